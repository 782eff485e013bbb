//! One optimizer step over the tensors of a model of about 10 M parameters
//! (8 blocks of 8 tensors: attention and MLP weights, biases, norms), f32 on
//! candle's CPU device: fadam-candle's FAdam (the `fadam_core` path and the
//! tensor-op path) against candle-nn's own AdamW, in the same run.
//!
//! ```text
//! cargo bench -p fadam-candle --bench step            # figures
//! cargo bench -p fadam-candle --bench step -- --test  # runs each once
//! ```

use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fadam_candle::{FAdam, ParamsFAdam, StepPath};

/// Width of the model: 8 blocks of width 320 hold 9.8 M parameters.
const WIDTH: usize = 320;
const BLOCKS: usize = 8;

/// The shapes of one block: 4 attention projections with biases folded
/// into one, an MLP of 4x width, two norms.
fn shapes() -> Vec<Vec<usize>> {
    let w = WIDTH;
    (0..BLOCKS)
        .flat_map(|_| {
            [
                vec![w, 3 * w],
                vec![3 * w],
                vec![w, w],
                vec![w],
                vec![w, 4 * w],
                vec![4 * w, w],
                vec![2, w],
                vec![2, w],
            ]
        })
        .collect()
}

/// Vars and gradients (uniform, fixed seed by construction order).
fn workload() -> (Vec<Var>, GradStore) {
    let device = Device::Cpu;
    let mut grads = GradStore::default();
    let vars: Vec<Var> = shapes()
        .iter()
        .map(|s| {
            let var = Var::rand(-1f32, 1f32, s.as_slice(), &device).unwrap();
            let grad = Tensor::rand(-1e-2f32, 1e-2f32, s.as_slice(), &device).unwrap();
            grads.insert(&var, grad);
            var
        })
        .collect();
    (vars, grads)
}

fn bench(c: &mut Criterion) {
    let (vars, grads) = workload();
    let params: usize = vars.iter().map(|v| v.elem_count()).sum();
    let mut group = c.benchmark_group(format!("candle-step/f32/{}-tensors", vars.len()));
    group.throughput(Throughput::Elements(params as u64));
    group.sample_size(10);
    let mut fadam = FAdam::new(vars.clone(), ParamsFAdam::default()).unwrap();
    group.bench_function("fadam", |b| b.iter(|| fadam.step(&grads).unwrap()));
    let mut tensor_ops = FAdam::new(vars.clone(), ParamsFAdam::default()).unwrap();
    tensor_ops.set_path(StepPath::TensorOps).unwrap();
    group.bench_function("fadam-tensor-ops", |b| {
        b.iter(|| tensor_ops.step(&grads).unwrap())
    });
    let mut adamw = AdamW::new(vars.clone(), ParamsAdamW::default()).unwrap();
    group.bench_function("candle-adamw", |b| b.iter(|| adamw.step(&grads).unwrap()));
    group.finish();
    assert_eq!(vars[0].dtype(), DType::F32);
}

criterion_group!(benches, bench);
criterion_main!(benches);
