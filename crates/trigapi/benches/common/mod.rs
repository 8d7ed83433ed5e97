//! Timing and the result table, shared by the benches.

#![allow(dead_code, reason = "each bench uses its own subset")]

use std::time::{Duration, Instant};

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

pub fn report(name: &str, mut samples: Vec<Duration>, bytes: usize) {
    samples.sort_unstable();
    let ms = |d: Duration| format!("{:.3} ms", d.as_secs_f64() * 1e3);
    println!(
        "| {name} | {} | {} | {} | {} | {bytes} |",
        samples.len(),
        ms(percentile(&samples, 0.5)),
        ms(percentile(&samples, 0.99)),
        ms(samples[samples.len() - 1])
    );
}

/// Time `f` `rounds` times after two warm-up calls; returns the samples and the last output size.
pub fn time(rounds: usize, mut f: impl FnMut(usize) -> Vec<u8>) -> (Vec<Duration>, usize) {
    let mut len = 0;
    for i in 0..2 {
        len = f(i).len();
    }
    let samples = (0..rounds)
        .map(|i| {
            let start = Instant::now();
            len = std::hint::black_box(f(i)).len();
            start.elapsed()
        })
        .collect();
    (samples, len)
}
