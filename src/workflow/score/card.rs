//! The account card: one account's scores and drivers as text for a terminal.

use super::*;

/// The plain-text card of one account (for `healthscore explain`).
pub fn card(scored: &Scored, r: usize, spec: &Spec) -> String {
    use std::fmt::Write;
    let t = &scored.table;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "account {}{}  (model {})",
        t.ids[r],
        t.dates.as_ref().map(|d| format!(" on {}", d[r])).unwrap_or_default(),
        scored.version
    );
    if let Some(seg) = &t.segment {
        let _ = writeln!(s, "segment   {}", seg[r]);
    }
    if let (Some(rk), Some(h), Some(b)) = (&scored.risk, scored.health[r], scored.band[r]) {
        let _ = writeln!(
            s,
            "risk      {:.1}%   health {h:.1}   band {}",
            100.0 * rk.probability[r],
            b.name().to_uppercase()
        );
    }
    if let Some(u) = &scored.upsell {
        let _ = writeln!(s, "upsell    {:.1}%", 100.0 * u.probability[r]);
    }
    let _ = writeln!(s, "action    {}", scored.action[r]);
    let _ = writeln!(
        s,
        "hand-built score {:.1} ({})",
        scored.rules_health[r],
        spec.band(scored.rules_health[r]).name()
    );
    for (target, ts) in [(Target::Risk, &scored.risk), (Target::Upsell, &scored.upsell)] {
        let Some(ts) = ts else { continue };
        let a = &ts.explained.attributions;
        let row = a.contributions.row(r);
        let _ = writeln!(
            s,
            "\n{} drivers (log-odds; base {:+.3}, total {:+.3}):",
            target.name(),
            a.base[r],
            a.base[r] + row.sum()
        );
        let (up, down) = if target == Target::Risk {
            ("raise risk", "lower risk")
        } else {
            ("raise upsell", "lower upsell")
        };
        for (label, sign) in [(up, 1.0), (down, -1.0)] {
            let mut idx: Vec<usize> = (0..row.len()).filter(|&j| row[j] * sign > 1e-9).collect();
            idx.sort_by(|&x, &y| (row[y] * sign).total_cmp(&(row[x] * sign)));
            let _ = writeln!(s, "  {label}:");
            if idx.is_empty() {
                let _ = writeln!(s, "    (none)");
            }
            for &j in idx.iter().take(5) {
                let (f, c) = &ts.explained.features[j];
                let _ = writeln!(
                    s,
                    "    {:<28} {:>12}  {:+.3}  odds ×{:.2}  [{}]",
                    f,
                    value_text(t, f, r),
                    row[j],
                    row[j].exp(),
                    c
                );
            }
        }
        let cats = by_category(&ts.explained.features, row.as_slice().expect("contiguous"));
        let _ = writeln!(s, "  by category:");
        for c in Category::ALL {
            if ts.explained.features.iter().any(|(_, fc)| *fc == c) {
                let _ = writeln!(s, "    {:<14} {:+.3}", c.name(), cats[c.index()]);
            }
        }
    }
    s
}
