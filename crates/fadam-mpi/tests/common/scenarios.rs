//! The checks every rank runs, on any `Collective`: the in-process thread
//! group of `tests/threads.rs` and MPI (`examples/mpi_check.rs`, launched
//! by `mpirun` from `.ci/mpi.sh`). Each returns the first failure.

use fadam_core::{
    DecayMode, EpsilonRule, FAdamConfig, Param, REDUCTION_BLOCK, Real, State, Tensor, step_model,
};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use fadam_mpi::{
    CheckpointError, Collective, Element, Error, InputError, LayoutMismatch, Operand, ShardedFAdam,
    TensorSpec,
};

const B: usize = REDUCTION_BLOCK;

/// Many tensors: sizes that no rank count divides, several that span
/// blocks, one smaller than the rank count, an empty one.
pub fn model() -> Vec<TensorSpec> {
    [3 * B + 5, 7, 1, 2 * B, 0, B - 1, 5 * B + 3, 2, 4 * B]
        .iter()
        .enumerate()
        .map(|(i, &len)| TensorSpec::new(len).with_group(i % 2))
        .collect()
}

/// The config sets the checks run: the paper's FAdam, its switches, Adam
/// and AdamW.
pub fn config_sets() -> Vec<(&'static str, Vec<FAdamConfig>)> {
    let fadam = FAdamConfig::new().with_lr(1e-2);
    vec![
        ("fadam", vec![fadam, fadam.with_weight_decay(0.0)]),
        (
            "switches",
            vec![
                fadam.with_epsilon_rule(EpsilonRule::PaperV3).without_clip(),
                fadam
                    .with_maximize(true)
                    .with_decay(DecayMode::L2)
                    .with_epsilon_rule(EpsilonRule::Fixed)
                    .with_clip(0.5),
            ],
        ),
        ("adam", vec![FAdamConfig::adam(), FAdamConfig::adamw()]),
    ]
}

/// `len` values in `[-scale, scale)` drawn from the stream `key`.
fn draw<P: Real>(key: [u64; 3], len: usize, scale: f64) -> Vec<P> {
    let seed = key.iter().fold(0u64, |h, &k| h.wrapping_mul(1_000_003) ^ k);
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..len)
        .map(|_| P::narrow(rng.random_range(-scale..scale)))
        .collect()
}

/// Rank `rank`'s local gradients at `step`, of magnitudes from 0.01 to 100.
pub fn grads<P: Real>(tensors: &[TensorSpec], rank: usize, step: u64) -> Vec<Vec<P>> {
    let scale = |t: usize| 10f64.powi(t as i32 % 5 - 2);
    let key = |t: usize| [rank as u64, step, t as u64];
    (0..tensors.len())
        .map(|t| draw(key(t), tensors[t].len, scale(t)))
        .collect()
}

/// The initial parameters (the same on every rank).
pub fn init<P: Real>(tensors: &[TensorSpec]) -> Vec<Vec<P>> {
    let key = |t: usize| [u64::MAX, u64::MAX, t as u64];
    (0..tensors.len())
        .map(|t| draw(key(t), tensors[t].len, 1.0))
        .collect()
}

/// The averaged gradient as the reduce-scatter forms it: the ranks'
/// gradients (changed by `change`) summed in rank order, divided by the
/// rank count.
pub fn averaged<P: Real>(
    tensors: &[TensorSpec],
    size: usize,
    step: u64,
    change: impl Fn(Vec<Vec<P>>) -> Vec<Vec<P>>,
) -> Vec<Vec<P>> {
    let all: Vec<_> = (0..size)
        .map(|r| change(grads::<P>(tensors, r, step)))
        .collect();
    let n = P::narrow(size as f64);
    (0..tensors.len())
        .map(|t| {
            (0..tensors[t].len)
                .map(|i| all[1..].iter().fold(all[0][t][i], |s, g| s + g[t][i]) / n)
                .collect()
        })
        .collect()
}

/// `step_model` on one process: the reference.
pub struct Reference<P: Element> {
    pub params: Vec<Vec<P>>,
    pub states: Vec<State<P>>,
}

impl<P: Element> Reference<P> {
    pub fn new(tensors: &[TensorSpec]) -> Self {
        Self {
            params: init(tensors),
            states: tensors.iter().map(|s| State::new(s.len)).collect(),
        }
    }

    pub fn step(&mut self, groups: &[FAdamConfig], tensors: &[TensorSpec], grads: &[Vec<P>]) {
        let mut model: Vec<Tensor<'_, P>> = self
            .params
            .iter_mut()
            .zip(grads)
            .zip(&mut self.states)
            .zip(tensors)
            .map(|(((p, g), s), spec)| Tensor::new(p, g, s.as_mut()).with_group(spec.group))
            .collect();
        step_model(groups, &mut model).expect("the reference step");
    }
}

fn slices<P>(params: &mut [Vec<P>]) -> Vec<&mut [P]> {
    params.iter_mut().map(|p| p.as_mut_slice()).collect()
}

fn views<P>(grads: &[Vec<P>]) -> Vec<&[P]> {
    grads.iter().map(|g| g.as_slice()).collect()
}

fn bits<P: Param>(x: &[Vec<P>]) -> Vec<u64> {
    x.iter()
        .flatten()
        .map(|&v| v.to_state().wide().to_bits())
        .collect()
}

macro_rules! ensure {
    ($cond:expr, $($msg:tt)*) => {
        // Bound first: clippy reads `!(a <= b)` as a confusing negation.
        let holds: bool = $cond;
        if !holds {
            return Err(format!($($msg)*));
        }
    };
}

/// The distributed parameters and state equal the reference's, bit for bit.
fn same_as_reference<P: Element, C: Collective>(
    what: &str,
    opt: &ShardedFAdam<P, C>,
    params: &[Vec<P>],
    reference: &Reference<P>,
) -> Result<(), String> {
    ensure!(
        bits(params) == bits(&reference.params),
        "{what}: parameters differ from step_model's"
    );
    for (t, state) in reference.states.iter().enumerate() {
        let owned = opt.owned(t).ok_or("no tensor")?;
        let (m, f) = opt.state(t).ok_or("no tensor")?;
        let mine = [m.to_vec(), f.to_vec()];
        let theirs = [
            state.momentum()[owned.clone()].to_vec(),
            state.fisher()[owned].to_vec(),
        ];
        ensure!(
            bits(&mine) == bits(&theirs),
            "{what}: tensor {t}'s state differs"
        );
        ensure!(
            opt.steps()[t] == state.step(),
            "{what}: tensor {t}'s step count"
        );
    }
    Ok(())
}

/// Every rank holds the same parameter bits.
fn replicas_identical<P: Element, C: Collective>(
    comm: &C,
    params: &[Vec<P>],
) -> Result<(), String> {
    let mine = bits(params);
    let n = comm.size();
    let mut all = vec![0u64; mine.len() * n];
    comm.all_gather(&mine, &vec![mine.len(); n], &mut all);
    ensure!(
        all.chunks_exact(mine.len().max(1))
            .all(|r| r == mine.as_slice())
            || mine.is_empty(),
        "replicas differ"
    );
    Ok(())
}

/// One rank's run: the sharded optimizer and its replica, beside the
/// single-process reference on the averaged gradients.
struct Run<P: Element, C: Collective> {
    opt: ShardedFAdam<P, C>,
    params: Vec<Vec<P>>,
    reference: Reference<P>,
    tensors: Vec<TensorSpec>,
    groups: Vec<FAdamConfig>,
    rank: usize,
    size: usize,
}

impl<P: Element, C: Collective> Run<P, C> {
    fn new(comm: C, groups: &[FAdamConfig], round: Option<usize>) -> Result<Self, String> {
        let tensors = model();
        let (rank, size) = (comm.rank(), comm.size());
        let opt = match round {
            Some(round) => ShardedFAdam::with_round_elements(comm, groups, &tensors, round),
            None => ShardedFAdam::new(comm, groups, &tensors),
        };
        Ok(Self {
            opt: opt.map_err(|e| e.to_string())?,
            params: init(&tensors),
            reference: Reference::new(&tensors),
            groups: groups.to_vec(),
            tensors,
            rank,
            size,
        })
    }

    /// Step `step` on both sides, every rank's gradients changed by
    /// `change`.
    fn step(
        &mut self,
        step: u64,
        change: impl Fn(Vec<Vec<P>>) -> Vec<Vec<P>>,
    ) -> Result<(), String> {
        let g = change(grads(&self.tensors, self.rank, step));
        self.opt
            .step(&mut slices(&mut self.params), &views(&g))
            .map_err(|e| format!("step {step}: {e}"))?;
        let averaged = averaged(&self.tensors, self.size, step, change);
        self.reference.step(&self.groups, &self.tensors, &averaged);
        Ok(())
    }

    /// A step that must be refused: returns its error, after checking that
    /// nothing changed.
    fn refused(&mut self, params: Option<usize>, grads: &[Vec<P>]) -> Result<Error, String> {
        let mut views_of_params = slices(&mut self.params);
        views_of_params.truncate(params.unwrap_or(usize::MAX));
        let err = self.opt.step(&mut views_of_params, &views(grads));
        let err = err.err().ok_or("a step that should be refused was taken")?;
        same_as_reference(
            &format!("refused ({err})"),
            &self.opt,
            &self.params,
            &self.reference,
        )?;
        Ok(err)
    }
}

/// Several steps of each config set, `f32` and `f64`: the same bits as
/// `step_model` on the averaged gradients, and identical replicas.
pub fn bit_equality<C: Collective>(make: &dyn Fn() -> C) -> Result<(), String> {
    for (name, groups) in config_sets() {
        equal_steps::<f32, C>(&format!("{name}/f32"), make(), &groups, 4, None)?;
        equal_steps::<f64, C>(&format!("{name}/f64"), make(), &groups, 4, None)?;
    }
    // Collectives cut into many rounds: the same bits.
    let groups = &config_sets()[0].1;
    equal_steps::<f32, C>("fadam/f32, rounds of 5000", make(), groups, 2, Some(5000))
}

fn equal_steps<P: Element, C: Collective>(
    what: &str,
    comm: C,
    groups: &[FAdamConfig],
    steps: u64,
    round: Option<usize>,
) -> Result<(), String> {
    let mut run = Run::<P, C>::new(comm, groups, round)?;
    for step in 0..steps {
        run.step(step, |g| g).map_err(|e| format!("{what}: {e}"))?;
        let what = format!("{what}, step {step}");
        same_as_reference(&what, &run.opt, &run.params, &run.reference)?;
        replicas_identical(run.opt.comm(), &run.params)?;
    }
    Ok(())
}

/// A NaN or an infinity on one rank only, and bad arguments on one rank
/// only: the same error on every rank, nothing written anywhere; then the
/// run goes on as if the refused steps had not been asked.
pub fn all_or_nothing<C: Collective>(make: &dyn Fn() -> C) -> Result<(), String> {
    let mut run = Run::<f32, C>::new(make(), &config_sets()[0].1, None)?;
    let (rank, last) = (run.rank, run.size - 1);
    let lens: Vec<usize> = run.tensors.iter().map(|t| t.len).collect();
    run.step(0, |g| g)?;
    let g1 = grads::<f32>(&run.tensors, rank, 1);
    for (tensor, bad) in [(6, f32::NAN), (3, f32::INFINITY), (0, f32::NEG_INFINITY)] {
        let mut g = g1.clone();
        if rank == last {
            g[tensor][lens[tensor] / 2] = bad;
        }
        let err = run.refused(None, &g)?;
        let expected = Error::Step(fadam_core::Error::NonFiniteGradient { tensor });
        ensure!(err == expected, "{bad} on rank {last}: {err:?}");
    }
    let mut short = g1.clone();
    if rank == last {
        short[5].pop();
    }
    let err = run.refused(None, &short)?;
    let expected = Error::Input {
        rank: last,
        problem: InputError::Length {
            operand: Operand::Grads,
            tensor: 5,
            expected: lens[5],
            found: lens[5] - 1,
        },
    };
    ensure!(err == expected, "short gradient on rank {last}: {err:?}");
    let err = run.refused((rank == last).then_some(lens.len() - 1), &g1)?;
    let expected = Error::Input {
        rank: last,
        problem: InputError::TensorCount {
            operand: Operand::Params,
            expected: lens.len(),
            found: lens.len() - 1,
        },
    };
    ensure!(err == expected, "missing tensor on rank {last}: {err:?}");
    run.step(1, |g| g)?;
    same_as_reference("after refusals", &run.opt, &run.params, &run.reference)
}

/// Ranks constructed with different layouts get the same error each.
pub fn layout_mismatch<C: Collective>(make: &dyn Fn() -> C) -> Result<(), String> {
    let comm = make();
    let (rank, size) = (comm.rank(), comm.size());
    let last = size - 1;
    let groups = &config_sets()[0].1;
    let mut tensors = model();
    if rank == last {
        tensors[3].len += 1;
    }
    let err = ShardedFAdam::<f32, C>::new(comm, groups, &tensors).err();
    let expected = (size > 1).then_some(Error::Layout {
        rank: last,
        mismatch: LayoutMismatch::TensorLen {
            tensor: 3,
            expected: 2 * B,
            found: 2 * B + 1,
        },
    });
    ensure!(err == expected, "tensor length on rank {last}: {err:?}");
    let mut tensors = model();
    if rank == last {
        tensors.pop();
    }
    let err = ShardedFAdam::<f32, C>::new(make(), groups, &tensors).err();
    let count = tensors.len() + usize::from(rank == last);
    let expected = (size > 1).then_some(Error::Layout {
        rank: last,
        mismatch: LayoutMismatch::TensorCount {
            expected: count,
            found: count - 1,
        },
    });
    ensure!(err == expected, "tensor count on rank {last}: {err:?}");
    let mut changed = groups.clone();
    if rank == last {
        changed[1] = changed[1].with_lr(0.5);
    }
    let err = ShardedFAdam::<f32, C>::new(make(), &changed, &model()).err();
    let expected = (size > 1).then_some(Error::Layout {
        rank: last,
        mismatch: LayoutMismatch::Configs,
    });
    ensure!(err == expected, "config on rank {last}: {err:?}");
    let round = if rank == last { 999 } else { 1000 };
    let err = ShardedFAdam::<f32, C>::with_round_elements(make(), groups, &model(), round).err();
    let expected = (size > 1).then_some(Error::Layout {
        rank: last,
        mismatch: LayoutMismatch::RoundElements {
            expected: 1000,
            found: 999,
        },
    });
    ensure!(err == expected, "round size on rank {last}: {err:?}");
    let err = ShardedFAdam::<f64, C>::new(make(), &[FAdamConfig::new()], &model()).err();
    ensure!(
        matches!(
            err,
            Some(Error::Step(fadam_core::Error::UnknownGroup {
                tensor: 1,
                ..
            }))
        ),
        "unknown group: {err:?}"
    );
    Ok(())
}

/// Save after some steps, load into a fresh optimizer, and both continue
/// with the same bits; a wrong rank's or an older step's checkpoint is
/// refused on every rank.
pub fn checkpoint<C: Collective>(make: &dyn Fn() -> C) -> Result<(), String> {
    let tensors = model();
    let groups = &config_sets()[0].1;
    let new = || ShardedFAdam::<f32, C>::new(make(), groups, &tensors).map_err(|e| e.to_string());
    let mut a = new()?;
    let rank = a.comm().rank();
    let size = a.comm().size();
    let mut params = init::<f32>(&tensors);
    let mut early = Vec::new();
    for step in 0..3 {
        if step == 1 {
            early = a.save();
        }
        let g = grads::<f32>(&tensors, rank, step);
        a.step(&mut slices(&mut params), &views(&g))
            .map_err(|e| e.to_string())?;
    }
    let saved = a.save();
    let mut b = new()?;
    let fresh = b.save();
    if size > 1 {
        let err = b.load(if rank == 0 { &early } else { &saved });
        ensure!(
            err == Err(Error::Checkpoint {
                rank: 1,
                problem: CheckpointError::Steps
            }),
            "checkpoints of different steps: {err:?}"
        );
        ensure!(b.save() == fresh, "a refused load changed the state");
    }
    b.load(&saved).map_err(|e| e.to_string())?;
    let mut resumed = params.clone();
    for step in 3..6 {
        let g = grads::<f32>(&tensors, rank, step);
        a.step(&mut slices(&mut params), &views(&g))
            .map_err(|e| e.to_string())?;
        b.step(&mut slices(&mut resumed), &views(&g))
            .map_err(|e| e.to_string())?;
        ensure!(
            bits(&params) == bits(&resumed),
            "resumed run differs at step {step}"
        );
        ensure!(a.save() == b.save(), "resumed state differs at step {step}");
    }
    Ok(())
}

/// Takes `steps` steps on the ranks of `comm`; returns this rank's
/// checkpoint.
pub fn save_after<C: Collective>(comm: C, steps: u64) -> Result<Vec<u8>, String> {
    let mut run = Run::<f32, C>::new(comm, &config_sets()[0].1, None)?;
    for step in 0..steps {
        run.step(step, |g| g)?;
    }
    Ok(run.opt.save())
}

/// Loads, on the ranks of `comm`, the checkpoints of a run on `saved_on`
/// ranks that took `steps` steps: the state is `step_model`'s, and the run
/// goes on with the same bits; an incomplete set is refused everywhere.
pub fn resharded<C: Collective>(
    comm: C,
    checkpoints: &[Vec<u8>],
    saved_on: usize,
    steps: u64,
) -> Result<(), String> {
    let mut run = Run::<f32, C>::new(comm, &config_sets()[0].1, None)?;
    for step in 0..steps {
        let averaged = averaged(&run.tensors, saved_on, step, |g| g);
        run.reference.step(&run.groups, &run.tensors, &averaged);
    }
    run.params = run.reference.params.clone();
    // Any order will do.
    let mut views: Vec<&[u8]> = checkpoints.iter().map(|c| c.as_slice()).collect();
    views.reverse();
    let before = run.opt.save();
    let err = run.opt.load_resharded(&views[1..]);
    let expected = Error::Checkpoint {
        rank: 0,
        problem: CheckpointError::Set,
    };
    ensure!(err == Err(expected), "an incomplete set: {err:?}");
    ensure!(run.opt.save() == before, "a refused load changed the state");
    run.opt.load_resharded(&views).map_err(|e| e.to_string())?;
    same_as_reference("re-sharded", &run.opt, &run.params, &run.reference)?;
    for step in steps..steps + 2 {
        run.step(step, |g| g)?;
        let what = format!("re-sharded, step {step}");
        same_as_reference(&what, &run.opt, &run.params, &run.reference)?;
    }
    Ok(())
}

/// Where the core's sums leave the fast path (a block of gradients with
/// RMS 1e-20 in `f32`) the sharded step may differ from `step_model` in
/// the rounding of those sums only.
pub fn careful_sums_bound<C: Collective>(make: &dyn Fn() -> C) -> Result<(), String> {
    let mut run = Run::<f32, C>::new(make(), &config_sets()[0].1, None)?;
    let tiny = |mut g: Vec<Vec<f32>>| {
        g[6][B..2 * B].iter_mut().for_each(|x| *x *= 1e-18);
        g[8].iter_mut().for_each(|x| *x *= 1e-18);
        g
    };
    for step in 0..3 {
        run.step(step, tiny)?;
        let pairs = run.params.iter().zip(&run.reference.params);
        for (t, (p, r)) in pairs.enumerate() {
            let lr = run.groups[run.tensors[t].group].lr as f32;
            let worst = p
                .iter()
                .zip(r)
                .map(|(a, b)| (a - b).abs() / (b.abs() + lr))
                .fold(0.0, f32::max);
            ensure!(
                worst <= 1e-5,
                "step {step}, tensor {t}: relative difference {worst}"
            );
        }
        replicas_identical(run.opt.comm(), &run.params)?;
    }
    Ok(())
}

/// A check, run on every rank with a way to make communicators.
pub type Check<C> = fn(&dyn Fn() -> C) -> Result<(), String>;

/// Every check, in order, with its name.
pub fn all<C: Collective>() -> [(&'static str, Check<C>); 5] {
    [
        ("bit equality with step_model", bit_equality),
        ("all or nothing", all_or_nothing),
        ("layout mismatch", layout_mismatch),
        ("checkpoint and resume", checkpoint),
        ("careful sums within rounding", careful_sums_bound),
    ]
}
