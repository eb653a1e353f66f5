//! Gradient histograms of a node's rows and the in-place partition of its rows
//! by a split.

use super::*;

/// The gradient and hessian sums of a histogram slot. Rows are not counted
/// here (a third sum would cost every update a load, an add and a store):
/// [`Sizes`] proves or counts the sizes a split needs.
#[derive(Clone, Copy, Default)]
pub(super) struct Stat {
    pub(super) g: f64,
    pub(super) h: f64,
}

impl Stat {
    pub(super) fn add(&mut self, g: f64, h: f64) {
        self.g += g;
        self.h += h;
    }
    pub(super) fn plus(self, o: Stat) -> Stat {
        Stat {
            g: self.g + o.g,
            h: self.h + o.h,
        }
    }
    pub(super) fn minus(self, o: Stat) -> Stat {
        Stat {
            g: self.g - o.g,
            h: self.h - o.h,
        }
    }
    pub(super) fn score(self, lambda: f64) -> f64 {
        self.g * self.g / (self.h + lambda)
    }
}

/// Asks the CPU to bring the cache line at `p` into L1 (no effect elsewhere).
#[inline(always)]
pub(super) fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint; it never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch(p.cast(), std::arch::x86_64::_MM_HINT_T0)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Per column, `STRIDE` slots: bins 0..=254, the missing bin 255, then a
/// few unused ones.
pub(super) type Hist = Vec<Stat>;

/// Slots per column of a histogram. Not 256: one row adds to a slot of every
/// column, and with columns 256 slots (4 KiB) apart those slots share their
/// address modulo 4 KiB whenever the codes are equal (binary columns,
/// say); the CPU then takes each load for one that may depend on the stores
/// before it. Three more slots set the columns apart (the measurement is in
/// benches/RESULTS.md).
pub(super) const STRIDE: usize = 259;

pub(super) fn histogram(codes: &Codes, grad: &[(f64, f64)], rows: &[u32]) -> Hist {
    let f = codes.ncols;
    const PREFETCH: usize = 24;
    let fill = |part: &[u32]| {
        let mut h = vec![Stat::default(); f * STRIDE];
        for (i, &r) in part.iter().enumerate() {
            // A node's rows are scattered over the table: ask for the codes
            // and gradients of a row some way ahead (a hint only; it reads
            // nothing).
            if let Some(&ahead) = part.get(i + PREFETCH) {
                let row = codes.data.as_ptr().wrapping_add(ahead as usize * f);
                prefetch(row);
                prefetch(row.wrapping_add(f.saturating_sub(1)));
                prefetch(grad.as_ptr().wrapping_add(ahead as usize).cast());
            }
            let r = r as usize;
            let (g, hh) = grad[r];
            // Columns as arrays of STRIDE slots: a code (< 256) needs no bounds check.
            for (column, &c) in h.chunks_exact_mut(STRIDE).zip(&codes.data[r * f..(r + 1) * f]) {
                let column: &mut [Stat; STRIDE] = column.try_into().expect("a column's slots");
                column[c as usize].add(g, hh);
            }
        }
        h
    };
    let chunk = 16384;
    if rows.len() <= chunk {
        return fill(rows);
    }
    // Fixed chunks summed in order: the same sums whatever the threading.
    // A window of chunks is filled in parallel at a time, so that a few
    // partial histograms are held, not one per chunk.
    let window = 4 * rayon::current_num_threads().max(1);
    let mut total: Option<Hist> = None;
    for rows in rows.chunks(chunk * window) {
        let parts: Vec<Hist> = rows.par_chunks(chunk).map(fill).collect();
        for b in parts {
            match &mut total {
                None => total = Some(b),
                Some(total) => {
                    for (x, y) in total.iter_mut().zip(&b) {
                        x.g += y.g;
                        x.h += y.h;
                    }
                }
            }
        }
    }
    total.expect("at least one chunk")
}

/// Splits a node's rows by their code in column `f`, in place: the rows
/// going left come first, then those going right, and each side keeps the
/// rows' order; returns how many go left. `scratch` is as long as `rows`.
/// Rows are taken in chunks (in parallel for a large node); within a chunk
/// each row is written branch-free to the next slot from the chunk's front
/// and from its back, and only its own side's count moves on; the code of a
/// row some way ahead is prefetched (a node's rows are scattered over the
/// table). The chunks' sides are then copied back in order.
pub(super) fn partition(codes: &Codes, f: usize, rows: &mut [u32], scratch: &mut [u32], goes_left: impl Fn(u8) -> bool + Sync) -> usize {
    const CHUNK: usize = 16384;
    const PREFETCH: usize = 32;
    debug_assert_eq!(rows.len(), scratch.len(), "a slot of scratch per row");
    let column = codes.column(f);
    let split = |(part, out): (&[u32], &mut [u32])| {
        let len = part.len();
        let (mut nl, mut nr) = (0, 0);
        for (i, &r) in part.iter().enumerate() {
            if let Some(&ahead) = part.get(i + PREFETCH) {
                prefetch(column.as_ptr().wrapping_add(ahead as usize));
            }
            let l = goes_left(column[r as usize]);
            // Both slots are free until the chunk's last row (nl + nr = i < len),
            // and a slot written for the other side is written again later.
            out[nl] = r;
            out[len - 1 - nr] = r;
            nl += l as usize;
            nr += !l as usize;
        }
        nl
    };
    let lefts: Vec<usize> = if rows.len() <= CHUNK {
        vec![split((rows, scratch))]
    } else {
        rows.par_chunks(CHUNK).zip(scratch.par_chunks_mut(CHUNK)).map(split).collect()
    };
    let total: usize = lefts.iter().sum();
    // Each chunk holds its left rows in order, then its right rows backwards.
    let (mut l, mut r) = (0, total);
    for (part, &nl) in scratch.chunks(CHUNK).zip(&lefts) {
        rows[l..l + nl].copy_from_slice(&part[..nl]);
        l += nl;
        for (o, &x) in rows[r..r + part.len() - nl].iter_mut().zip(part[nl..].iter().rev()) {
            *o = x;
        }
        r += part.len() - nl;
    }
    total
}
