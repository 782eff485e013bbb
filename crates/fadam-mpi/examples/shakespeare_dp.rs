//! The Shakespeare character model of `fadam-core`'s example (a factored
//! bigram: embedding → logits, softmax), trained data-parallel with
//! `ShardedFAdam`: every rank draws the same global batch, takes its share
//! of it, and the optimizer averages the gradients and shards the state.
//! Rank 0 prints the global batch's loss per step; a run on one process
//! (`-np 1`, or without `mpirun`) on the same global batches prints the same
//! losses up to rounding.
//!
//! ```sh
//! cargo build --release -p fadam-mpi --features mpi --example shakespeare_dp
//! mpirun -np 2 target/release/examples/shakespeare_dp [STEPS]
//! target/release/examples/shakespeare_dp [STEPS]
//! ```
//!
//! Data: Open Shakespeare (Open Knowledge Foundation), CC BY 2.5; see
//! `crates/fadam-lab/data/README.md`. It is embedded in the binary.

use fadam_core::FAdamConfig;
use fadam_mpi::{Collective, ShardedFAdam, TensorSpec};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

// The workspace keeps one copy of the text, in the lab crate.
const TEXT: &str = include_str!("../../fadam-lab/data/shakespeare.txt");
const DIM: usize = 24;
const BATCH: usize = 512;
const SEED: u64 = 1234;

/// logits(prev) = E[prev] · U + b; the tensors E [V, DIM], U [DIM, V], b [V].
fn init(vocab: usize) -> Vec<Vec<f32>> {
    let mut rng = SmallRng::seed_from_u64(SEED);
    let e = (0..vocab * DIM)
        .map(|_| rng.random_range(-0.5..0.5))
        .collect();
    let bound = 1.0 / (DIM as f32).sqrt();
    let u = (0..DIM * vocab)
        .map(|_| rng.random_range(-bound..bound))
        .collect();
    vec![e, u, vec![0.0; vocab]]
}

/// Adds `scale ·` the gradient of `-ln softmax(logits(prev))[next]` to
/// `grads`; returns that loss.
fn accumulate(
    model: &[Vec<f32>],
    (prev, next): (usize, usize),
    scale: f32,
    grads: &mut [Vec<f32>],
) -> f32 {
    let (e, u, b) = (&model[0], &model[1], &model[2]);
    let v = b.len();
    let x = &e[prev * DIM..(prev + 1) * DIM];
    let mut p = b.clone();
    for (k, &xk) in x.iter().enumerate() {
        for (pj, &ukj) in p.iter_mut().zip(&u[k * v..(k + 1) * v]) {
            *pj += xk * ukj;
        }
    }
    let max = p.iter().fold(f32::NEG_INFINITY, |m, &z| m.max(z));
    p.iter_mut().for_each(|z| *z = (*z - max).exp());
    let sum: f32 = p.iter().sum();
    p.iter_mut().for_each(|z| *z /= sum);
    let loss = -p[next].max(1e-30).ln();
    p[next] -= 1.0; // d loss / d logits
    for (g, &d) in grads[2].iter_mut().zip(&p) {
        *g += scale * d;
    }
    for k in 0..DIM {
        let dx: f32 = u[k * v..(k + 1) * v]
            .iter()
            .zip(&p)
            .map(|(a, b)| a * b)
            .sum();
        grads[0][prev * DIM + k] += scale * dx;
        for (g, &d) in grads[1][k * v..(k + 1) * v].iter_mut().zip(&p) {
            *g += scale * x[k] * d;
        }
    }
    loss
}

fn main() {
    let steps: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let Some(universe) = mpi::initialize() else {
        eprintln!("MPI was already initialized");
        std::process::exit(2);
    };
    let world = universe.world();
    let (rank, size) = (Collective::rank(&world), Collective::size(&world));
    let mut alphabet: Vec<u8> = TEXT.bytes().collect();
    alphabet.sort_unstable();
    alphabet.dedup();
    let mut map = [0usize; 256];
    alphabet
        .iter()
        .enumerate()
        .for_each(|(i, &c)| map[c as usize] = i);
    let index: Vec<usize> = TEXT.bytes().map(|c| map[c as usize]).collect();
    let vocab = alphabet.len();

    let mut model = init(vocab);
    let tensors: Vec<TensorSpec> = model
        .iter()
        .enumerate()
        // No weight decay on the bias: its own group.
        .map(|(i, t)| TensorSpec::new(t.len()).with_group(usize::from(i == 2)))
        .collect();
    let config = FAdamConfig::new().with_lr(3e-3);
    let groups = [config, config.with_weight_decay(0.0)];
    let mut opt = ShardedFAdam::<f32, _>::new(world, &groups, &tensors).unwrap_or_else(|e| {
        eprintln!("rank {rank}: {e}");
        std::process::exit(1);
    });
    if rank == 0 {
        println!(
            "{size} rank(s), global batch {BATCH}, model of {} parameters; this rank holds {} of the state",
            tensors.iter().map(|t| t.len).sum::<usize>(),
            opt.shard_len()
        );
    }
    // The same global batches on every rank.
    let mut batch_rng = SmallRng::seed_from_u64(SEED ^ 0xABCD);
    let mut grads: Vec<Vec<f32>> = model.iter().map(|t| vec![0.0; t.len()]).collect();
    // This rank's share of the batch, weighted so that the average over
    // ranks is the global batch's mean gradient.
    let share = BATCH * rank / size..BATCH * (rank + 1) / size;
    let scale = size as f32 / BATCH as f32;
    for step in 1..=steps {
        let batch: Vec<(usize, usize)> = (0..BATCH)
            .map(|_| {
                let i = batch_rng.random_range(0..index.len() - 1);
                (index[i], index[i + 1])
            })
            .collect();
        grads.iter_mut().for_each(|g| g.fill(0.0));
        let mut losses: Vec<f64> = batch[share.clone()]
            .iter()
            .map(|&pair| f64::from(accumulate(&model, pair, scale, &mut grads)))
            .collect();
        // Every position's loss, in batch order, for the global mean.
        let counts: Vec<usize> = (0..size)
            .map(|r| BATCH * (r + 1) / size - BATCH * r / size)
            .collect();
        let mut all = vec![0.0f64; BATCH];
        opt.comm().all_gather(&losses, &counts, &mut all);
        losses = all;
        let mut params: Vec<&mut [f32]> = model.iter_mut().map(|t| t.as_mut_slice()).collect();
        let views: Vec<&[f32]> = grads.iter().map(|g| g.as_slice()).collect();
        if let Err(e) = opt.step(&mut params, &views) {
            eprintln!("rank {rank}: step {step} refused: {e}");
            std::process::exit(1);
        }
        if rank == 0 {
            let bits = losses.iter().sum::<f64>() / BATCH as f64 / std::f64::consts::LN_2;
            println!("step {step:>4}: loss {bits:.6} bits/char");
        }
    }
    if rank == 0 {
        let checksum: f64 = model.iter().flatten().map(|&x| f64::from(x)).sum();
        println!("parameter checksum {checksum:.9}");
    }
}
