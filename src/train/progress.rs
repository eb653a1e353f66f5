//! Progress of a training run for the one who waits: the stage, the model
//! fits done of those the stage needs (fits run on several threads at once,
//! so they are counted, not numbered), the elapsed time and an estimate of
//! the time left from the stage's pace so far.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Passes progress lines to a reporter (the CLI's spinner, or nothing).
pub struct Ticker<'a> {
    say: &'a (dyn Fn(&str) + Sync),
    stage: Mutex<(String, Instant)>,
    total: AtomicUsize,
    done: AtomicUsize,
}

impl<'a> Ticker<'a> {
    /// A ticker that reports through `say`.
    pub fn new(say: &'a (dyn Fn(&str) + Sync)) -> Ticker<'a> {
        Ticker {
            say,
            stage: Mutex::new((String::new(), Instant::now())),
            total: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
        }
    }

    /// Starts a stage of `fits` model fits (0: a stage without a count).
    pub fn stage(&self, name: &str, fits: usize) {
        if let Ok(mut s) = self.stage.lock() {
            *s = (name.to_string(), Instant::now());
        }
        self.total.store(fits, Ordering::SeqCst);
        self.done.store(0, Ordering::SeqCst);
        (self.say)(&if fits > 0 {
            format!("{name}: 0 of {fits} fits")
        } else {
            name.to_string()
        });
    }

    /// One fit of the current stage is done.
    pub fn tick(&self) {
        let done = self.done.fetch_add(1, Ordering::SeqCst) + 1;
        let total = self.total.load(Ordering::SeqCst).max(done);
        let Ok(s) = self.stage.lock() else { return };
        let (name, start) = (&s.0, s.1);
        (self.say)(&line(name, done, total, start.elapsed()));
    }
}

/// Model fits of a cross-validation on `folds` folds with the spec's candidates.
pub(crate) fn fits_of(spec: &crate::data::spec::Spec, folds: usize) -> usize {
    use crate::data::spec::ModelKind;
    let m = &spec.model;
    folds
        * match m.kind {
            ModelKind::Logistic => m.c_grid.len(),
            ModelKind::Gbdt => m.depth_grid.len(),
            ModelKind::Auto => m.c_grid.len() + m.depth_grid.len(),
        }
}

/// `name: done of total fits, about T left`, the time left estimated from
/// the pace of the fits done so far.
fn line(name: &str, done: usize, total: usize, elapsed: Duration) -> String {
    if done == 0 || done >= total {
        return format!("{name}: {done} of {total} fits");
    }
    let left = elapsed.as_secs_f64() / done as f64 * (total - done) as f64;
    if left < 1.0 {
        return format!("{name}: {done} of {total} fits");
    }
    format!("{name}: {done} of {total} fits, about {} left", human(left))
}

fn human(secs: f64) -> String {
    let s = secs.round() as u64;
    if s < 60 {
        format!("{s} s")
    } else if s < 3600 {
        format!("{} min {:02} s", s / 60, s % 60)
    } else {
        format!("{} h {:02} min", s / 3600, (s % 3600) / 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_time_left_follows_the_pace_so_far() {
        assert_eq!(line("cv", 2, 8, Duration::from_secs(10)), "cv: 2 of 8 fits, about 30 s left");
        assert_eq!(line("cv", 1, 4, Duration::from_secs(100)), "cv: 1 of 4 fits, about 5 min 00 s left");
        assert_eq!(line("cv", 4, 4, Duration::from_secs(100)), "cv: 4 of 4 fits");
    }

    #[test]
    fn ticks_are_counted_across_threads() {
        let seen = Mutex::new(Vec::new());
        let say = |m: &str| seen.lock().unwrap().push(m.to_string());
        let t = Ticker::new(&say);
        t.stage("cv", 6);
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    t.tick();
                    t.tick();
                });
            }
        });
        let seen = seen.into_inner().unwrap();
        assert_eq!(seen.len(), 7);
        assert!(seen.iter().any(|m| m.starts_with("cv: 6 of 6 fits")), "{seen:?}");
    }
}
