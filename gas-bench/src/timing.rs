//! The timer: warm-up, then rounds of samples of many iterations, each paired with a sample of
//! the reference (ecrecover) taken right after it, so that a ratio compares two figures
//! measured under the same load on a shared machine.

use std::hint::black_box;
use std::time::{Duration, Instant};

use rustix::time::{ClockId, clock_gettime};

/// How long and how often to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Time spent running an input before it is measured.
    pub warm_up: Duration,
    /// Samples per input and measurement (each paired with a reference sample), one per
    /// round.
    pub samples: usize,
    /// Least time one sample runs; an input slower than this runs once per sample.
    pub sample_time: Duration,
}

impl Settings {
    /// The full run: long enough for stable medians on a quiet machine.
    pub const FULL: Settings = Settings {
        warm_up: Duration::from_millis(100),
        samples: 41,
        sample_time: Duration::from_millis(4),
    };
    /// The quick run, for CI.
    pub const QUICK: Settings = Settings {
        warm_up: Duration::from_millis(10),
        samples: 15,
        sample_time: Duration::from_micros(500),
    };
}

/// Which side of a pair to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The input being measured.
    Op,
    /// The reference.
    Reference,
}

/// What one input's measurement found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timing {
    /// Median time of one call, in nanoseconds.
    pub ns: f64,
    /// First and third quartile of the per-sample times, in nanoseconds.
    pub quartiles: (f64, f64),
    /// Median of the per-pair ratios (op time / reference time).
    pub ratio: f64,
    /// Median reference time of one call in the pairs, in nanoseconds.
    pub reference_ns: f64,
    /// Calls per sample.
    pub iterations: u64,
}

impl Timing {
    /// The interquartile range relative to the median: the spread.
    pub fn spread(&self) -> f64 {
        (self.quartiles.1 - self.quartiles.0) / self.ns
    }
}

/// The median of `values` (which must not be empty); sorts them.
pub fn median(values: &mut [f64]) -> f64 {
    quantile(values, 0.5)
}

/// The `q` quantile of `values`, linearly interpolated; sorts them. `NaN` when empty.
pub fn quantile(values: &mut [f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let position = q.clamp(0.0, 1.0) * (values.len() - 1) as f64;
    let below = position.floor() as usize;
    let above = position.ceil() as usize;
    let fraction = position - below as f64;
    values[below] + (values[above] - values[below]) * fraction
}

/// CPU time of this thread, in nanoseconds. Unlike wall time it does not count the time the
/// thread waits while other processes run, which on a shared 2-core machine is most of the
/// noise.
fn thread_cpu_ns() -> f64 {
    let now = clock_gettime(ClockId::ThreadCPUTime);
    now.tv_sec as f64 * 1e9 + now.tv_nsec as f64
}

/// Runs `run(side)` `iterations` times and returns the CPU time per call in nanoseconds.
fn time_batch(run: &mut dyn FnMut(Side), side: Side, iterations: u64) -> f64 {
    let start = thread_cpu_ns();
    for _ in 0..iterations {
        run(black_box(side));
    }
    (thread_cpu_ns() - start) / iterations as f64
}

/// How many calls of `side` fill `target`, after warming it up for `warm_up`.
fn calibrate(run: &mut dyn FnMut(Side), side: Side, warm_up: Duration, target: Duration) -> u64 {
    let start = Instant::now();
    let mut calls: u64 = 0;
    while calls == 0 || start.elapsed() < warm_up {
        run(black_box(side));
        calls += 1;
    }
    let per_call = start.elapsed().as_nanos() as f64 / calls as f64;
    ((target.as_nanos() as f64 / per_call).ceil() as u64).max(1)
}

/// The samples of one input: per-call times of the input and of the reference sample taken
/// right after each, in the order they were taken.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Samples {
    /// Per-call CPU time of each op sample, in nanoseconds.
    pub ops: Vec<f64>,
    /// Per-call CPU time of the reference sample paired with each op sample.
    pub references: Vec<f64>,
    /// Calls per op sample.
    pub iterations: u64,
}

impl Samples {
    /// The timing of the samples whose round `keep` accepts.
    pub fn timing(&self, keep: impl Fn(usize) -> bool) -> Timing {
        let mut ops = Vec::new();
        let mut references = Vec::new();
        let mut ratios = Vec::new();
        for (round, (op, reference)) in self.ops.iter().zip(&self.references).enumerate() {
            if keep(round) {
                ops.push(*op);
                references.push(*reference);
                ratios.push(op / reference);
            }
        }
        Timing {
            ns: median(&mut ops),
            quartiles: (quantile(&mut ops, 0.25), quantile(&mut ops, 0.75)),
            ratio: median(&mut ratios),
            reference_ns: median(&mut references),
            iterations: self.iterations,
        }
    }

    /// Two timings from disjoint halves of the samples: even rounds and odd rounds.
    pub fn halves(&self) -> (Timing, Timing) {
        (
            self.timing(|round| round % 2 == 0),
            self.timing(|round| round % 2 == 1),
        )
    }
}

/// Measures inputs `0..count`, each against the reference: `run(i, Side::Op)` runs input `i`,
/// `run(i, Side::Reference)` the reference. After a warm-up of each input, `rounds` rounds
/// each take one sample of every input, each followed by a reference sample: an input's samples
/// are spread over the whole measurement, so a load that comes and goes on a shared machine
/// touches every input and the reference alike instead of biasing a few.
pub fn measure_interleaved(
    settings: Settings,
    rounds: usize,
    count: usize,
    run: &mut dyn FnMut(usize, Side),
) -> Vec<Samples> {
    let mut samples = vec![Samples::default(); count];
    for (i, input) in samples.iter_mut().enumerate() {
        let mut one = |side: Side| run(i, side);
        input.iterations = calibrate(&mut one, Side::Op, settings.warm_up, settings.sample_time);
    }
    let mut reference = |side: Side| run(0, side);
    let reference_iterations = calibrate(
        &mut reference,
        Side::Reference,
        settings.warm_up,
        settings.sample_time,
    );
    for _ in 0..rounds.max(1) {
        for (i, input) in samples.iter_mut().enumerate() {
            let mut one = |side: Side| run(i, side);
            // One untimed call first, so that a sample of many calls does not pay for another
            // input's caches (an input that fills a sample alone pays them, a small share).
            if input.iterations > 1 {
                one(Side::Op);
            }
            input
                .ops
                .push(time_batch(&mut one, Side::Op, input.iterations));
            one(Side::Reference);
            input
                .references
                .push(time_batch(&mut one, Side::Reference, reference_iterations));
        }
    }
    samples
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_split_the_rounds_and_ratios_are_per_pair() {
        let samples = Samples {
            ops: vec![10.0, 30.0, 12.0, 36.0, 14.0],
            references: vec![5.0, 10.0, 6.0, 12.0, 7.0],
            iterations: 3,
        };
        let (even, odd) = samples.halves();
        assert_eq!(even.ns, 12.0);
        assert_eq!(even.ratio, 2.0);
        assert_eq!(even.reference_ns, 6.0);
        assert_eq!(odd.ns, 33.0);
        assert_eq!(odd.ratio, 3.0);
        assert_eq!(odd.quartiles, (31.5, 34.5));
        assert_eq!(odd.iterations, 3);
    }

    #[test]
    fn quantiles_interpolate() {
        let mut values = vec![4.0, 1.0, 3.0, 2.0];
        assert_eq!(median(&mut values), 2.5);
        assert_eq!(quantile(&mut values, 0.0), 1.0);
        assert_eq!(quantile(&mut values, 1.0), 4.0);
        assert!(quantile(&mut [], 0.5).is_nan());
    }
}
