//! criterion benches of the optimizer step: FAdam, the Adam mode and the
//! streaming floors, f32 and f64, flat tensors of 2^16, 2^20, 2^24 elements
//! and a model of 200 tensors. Run with `--features rayon` for the
//! multithreaded passes (the bench ids then end in `/rayon`).

use clap::ValueEnum;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use fadam_benches::{Mode, Param, Real, model_sizes, run, workload};
use std::time::Duration;

const THREADS: &str = if cfg!(feature = "rayon") {
    "rayon"
} else {
    "1thread"
};
const MODES: [Mode; 5] = [
    Mode::FAdam,
    Mode::Adam,
    Mode::FloorFAdam,
    Mode::FloorAdam,
    Mode::FloorOnePass,
];

fn bench_type<P: Param<State = P> + Real>(c: &mut Criterion, dtype: &str) {
    let workloads: Vec<(String, Vec<usize>)> = [16, 20, 24]
        .iter()
        .map(|&e| (format!("2^{e}"), vec![1usize << e]))
        .chain([("200-tensors".to_string(), model_sizes(200))])
        .collect();
    for (name, sizes) in workloads {
        let params: usize = sizes.iter().sum();
        let mut group = c.benchmark_group(format!("step/{dtype}/{name}"));
        group.throughput(Throughput::Elements(params as u64));
        if params >= 1 << 24 {
            group
                .sample_size(10)
                .measurement_time(Duration::from_secs(8));
        }
        let mut model = workload::<P>(&sizes);
        for mode in MODES {
            let name = mode.to_possible_value().expect("every mode has a name");
            group.bench_function(BenchmarkId::new(name.get_name(), THREADS), |b| {
                b.iter(|| run(mode, &mut model))
            });
        }
        group.finish();
    }
}

fn benches(c: &mut Criterion) {
    bench_type::<f32>(c, "f32");
    bench_type::<f64>(c, "f64");
}

criterion_group! {
    name = step;
    // Short runs: the machines this runs on are small and shared.
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20);
    targets = benches
}
criterion_main!(step);
