//! [`ShardedFAdam`]: the data-parallel step with sharded state.

use fadam_core::{FAdamConfig, Param, PartialSums, Real, Reduction, StateMut};

use crate::error::{INPUT_WORDS, InputError, Operand};
use crate::layout::{self, Layout};
use crate::{Collective, Error, Scalar};

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// A parameter type of [`ShardedFAdam`]: `f32` or `f64` (the state has the
/// parameters' type).
///
/// ```
/// use fadam_mpi::Element;
/// let mut bytes = Vec::new();
/// 1.5f32.write_le(&mut bytes);
/// assert_eq!(f32::read_le(&bytes), Some(1.5));
/// ```
pub trait Element: Param<State = Self> + Real + Scalar + sealed::Sealed {
    /// Appends the little-endian bytes.
    fn write_le(self, out: &mut Vec<u8>);
    /// Reads `size_of::<Self>()` little-endian bytes.
    fn read_le(bytes: &[u8]) -> Option<Self>;
}

macro_rules! element {
    ($t:ty) => {
        impl Element for $t {
            fn write_le(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            fn read_le(bytes: &[u8]) -> Option<Self> {
                Some(<$t>::from_le_bytes(bytes.try_into().ok()?))
            }
        }
    };
}
element!(f32);
element!(f64);

/// One tensor of the model: its length and parameter group.
///
/// ```
/// let bias = fadam_mpi::TensorSpec::new(64).with_group(1);
/// assert_eq!((bias.len, bias.group), (64, 1));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TensorSpec {
    /// Number of elements.
    pub len: usize,
    /// Index into the group configs.
    pub group: usize,
}

impl TensorSpec {
    /// A tensor of `len` elements in group 0.
    pub fn new(len: usize) -> Self {
        Self { len, group: 0 }
    }

    /// Puts the tensor in group `group`.
    #[must_use]
    pub fn with_group(mut self, group: usize) -> Self {
        self.group = group;
        self
    }
}

/// Data-parallel FAdam with sharded optimizer state (ZeRO stage 2): every
/// rank holds the whole model and `1/N` of the momentum and Fisher state.
///
/// Every rank calls [`step`](Self::step) once per step with its full
/// parameter replica and its local gradients; see the
/// [crate docs](crate) for what a step does and guarantees.
///
/// ```
/// use fadam_core::FAdamConfig;
/// use fadam_mpi::{ShardedFAdam, SingleProcess, TensorSpec};
///
/// let groups = [FAdamConfig::new(), FAdamConfig::new().with_weight_decay(0.0)];
/// let tensors = [TensorSpec::new(6), TensorSpec::new(2).with_group(1)];
/// let mut opt = ShardedFAdam::<f32, _>::new(SingleProcess, &groups, &tensors).unwrap();
/// let (mut w, mut b) = (vec![0.5f32; 6], vec![0.0f32; 2]);
/// opt.step(&mut [&mut w, &mut b], &[&[0.1; 6], &[-0.2; 2]]).unwrap();
/// assert!(b.iter().all(|&x| x > 0.0));
/// assert_eq!(opt.steps(), &[1, 1]);
/// ```
#[derive(Debug)]
pub struct ShardedFAdam<P: Element, C: Collective> {
    pub(crate) comm: C,
    pub(crate) groups: Vec<FAdamConfig>,
    pub(crate) layout: Layout,
    /// This rank's shard of the momentum and the Fisher diagonal, in the
    /// flat order.
    pub(crate) momentum: Vec<P>,
    pub(crate) fisher: Vec<P>,
    /// Steps taken, per tensor (the same on every rank).
    pub(crate) steps: Vec<u64>,
    /// The whole model: gradients packed to send, then parameters gathered.
    flat: Vec<P>,
    /// This rank's shard of the averaged gradient, then of the parameters.
    shard: Vec<P>,
    words: Vec<u64>,
    gathered: Vec<u64>,
}

/// The default round of [`ShardedFAdam::with_round_elements`] (16 MiB of
/// `f32`): bounds the buffers of a step, whatever the model's size.
pub(crate) const ROUND: usize = 1 << 22;

/// The element type's tag in layouts and checkpoints.
pub(crate) fn element_tag<P: Element>() -> u64 {
    core::mem::size_of::<P>() as u64
}

impl<P: Element, C: Collective> ShardedFAdam<P, C> {
    /// A fresh optimizer (zero state, step 0) for the model `tensors`, with
    /// the configs of their parameter groups. Collective: every rank calls
    /// it with the same arguments.
    ///
    /// # Errors
    /// On every rank: [`Error::Layout`] if the ranks' element types,
    /// tensors, groups or configs differ; then [`Error::Step`] with
    /// [`fadam_core::Error::Config`] or [`fadam_core::Error::UnknownGroup`];
    /// [`Error::TooLarge`] if a shard exceeds the communicator's counts.
    pub fn new(comm: C, groups: &[FAdamConfig], tensors: &[TensorSpec]) -> Result<Self, Error> {
        Self::with_round_elements(comm, groups, tensors, ROUND)
    }

    /// As [`new`](Self::new), with the gradient reduce-scatter and the
    /// parameter all-gather cut into rounds that each move at most about
    /// `round` elements, all ranks' pieces together (at least one element
    /// per rank): the step's buffers hold about `2 · round` elements
    /// besides the state. [`new`](Self::new) uses 2²² (16 MiB of `f32`).
    /// Smaller rounds mean more, smaller messages; the result is the same
    /// bits. Every rank must give the same value ([`Error::Layout`]
    /// otherwise).
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn with_round_elements(
        comm: C,
        groups: &[FAdamConfig],
        tensors: &[TensorSpec],
        round: usize,
    ) -> Result<Self, Error> {
        let lens: Vec<usize> = tensors.iter().map(|t| t.len).collect();
        let tensor_groups: Vec<usize> = tensors.iter().map(|t| t.group).collect();
        let layout = Layout::new(&lens, &tensor_groups, comm.size()).with_round(round);
        layout::check(&comm, &layout.describe(element_tag::<P>(), groups))?;
        for (group, config) in groups.iter().enumerate() {
            config
                .validate()
                .map_err(|error| fadam_core::Error::Config { group, error })?;
        }
        if let Some((tensor, &group)) = tensor_groups
            .iter()
            .enumerate()
            .find(|&(_, &g)| g >= groups.len())
        {
            return Err(fadam_core::Error::UnknownGroup {
                tensor,
                group,
                groups: groups.len(),
            }
            .into());
        }
        let words = (0..comm.size())
            .map(|r| sums_words(&layout, r, |_| true))
            .sum::<usize>();
        let (_, piece) = layout.rounds();
        let count = (piece * comm.size()).max(words);
        if count > comm.max_count() {
            return Err(Error::TooLarge {
                count,
                max: comm.max_count(),
            });
        }
        let shard = layout.shard_len(comm.rank());
        Ok(Self {
            groups: groups.to_vec(),
            momentum: vec![P::default(); shard],
            fisher: vec![P::default(); shard],
            steps: vec![0; lens.len()],
            flat: Vec::new(),
            shard: Vec::new(),
            words: Vec::new(),
            gathered: Vec::new(),
            layout,
            comm,
        })
    }

    /// The communicator.
    pub fn comm(&self) -> &C {
        &self.comm
    }

    /// Steps taken by each tensor.
    pub fn steps(&self) -> &[u64] {
        &self.steps
    }

    /// This rank's part of tensor `tensor` (indices into the tensor), the
    /// part whose state it holds; `None` for a tensor out of range.
    ///
    /// ```
    /// use fadam_core::FAdamConfig;
    /// use fadam_mpi::{ShardedFAdam, SingleProcess, TensorSpec};
    /// let tensors = [TensorSpec::new(5)];
    /// let opt = ShardedFAdam::<f32, _>::new(SingleProcess, &[FAdamConfig::new()], &tensors).unwrap();
    /// assert_eq!(opt.owned(0), Some(0..5)); // one rank owns everything
    /// assert_eq!(opt.state(0).map(|(m, f)| (m.len(), f.len())), Some((5, 5)));
    /// assert_eq!((opt.owned(1), opt.shard_len()), (None, 5));
    /// ```
    pub fn owned(&self, tensor: usize) -> Option<core::ops::Range<usize>> {
        (tensor < self.layout.lens.len()).then(|| self.layout.local_range(self.comm.rank(), tensor))
    }

    /// This rank's momentum and Fisher diagonal of tensor `tensor`, for the
    /// elements of [`owned`](Self::owned).
    pub fn state(&self, tensor: usize) -> Option<(&[P], &[P])> {
        self.owned(tensor)?;
        let r = self.layout.shard_range(self.comm.rank(), tensor);
        Some((&self.momentum[r.clone()], &self.fisher[r]))
    }

    /// The number of state elements this rank holds (momentum and Fisher
    /// each): about `1/N` of the model's parameters.
    pub fn shard_len(&self) -> usize {
        self.momentum.len()
    }

    /// One data-parallel step; collective. `params` is this rank's full
    /// replica (the same on every rank), `grads` its local gradients, one
    /// slice per tensor in the layout's order. On success every rank's
    /// `params` holds the same updated bits.
    ///
    /// # Errors
    /// The same on every rank, with nothing written on any rank:
    /// [`Error::Input`] if some rank's arguments do not match the layout,
    /// [`Error::Step`] if the core refuses the step on the averaged
    /// gradients (for example a NaN in any rank's gradient).
    ///
    /// ```
    /// use fadam_core::FAdamConfig;
    /// use fadam_mpi::{Error, ShardedFAdam, SingleProcess, TensorSpec};
    ///
    /// let tensors = [TensorSpec::new(3)];
    /// let mut opt = ShardedFAdam::<f64, _>::new(SingleProcess, &[FAdamConfig::new()], &tensors)?;
    /// let mut p = vec![1.0, 2.0, 3.0];
    /// let err = opt.step(&mut [&mut p], &[&[0.1, f64::NAN, 0.3]]);
    /// assert_eq!(err, Err(Error::Step(fadam_core::Error::NonFiniteGradient { tensor: 0 })));
    /// assert_eq!((p.as_slice(), opt.steps()), ([1.0, 2.0, 3.0].as_slice(), [0].as_slice()));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn step(&mut self, params: &mut [&mut [P]], grads: &[&[P]]) -> Result<(), Error> {
        let me = self.comm.rank();
        let input = self.check_input(params, grads);
        let mut plans = (0..self.layout.lens.len())
            .map(|t| {
                let config = &self.groups[self.layout.groups[t]];
                Reduction::<P>::new(config, self.steps[t], self.layout.lens[t])
                    .map_err(|e| at_tensor(e, t))
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.average_grads(input.is_none().then_some(grads));
        while plans.iter().any(|p| !p.is_ready()) {
            let totals = self.pass(&plans, params, input)?;
            for (t, (plan, total)) in plans.iter_mut().zip(totals).enumerate() {
                if let Some(total) = total {
                    plan.absorb(total).map_err(|e| at_tensor(e, t))?;
                }
            }
        }
        // Every check has passed on every rank: write.
        let mut result = Ok(());
        for (t, plan) in plans.iter().enumerate() {
            let local = self.layout.local_range(me, t);
            let r = self.layout.shard_range(me, t);
            let state = StateMut::new(
                &mut self.momentum[r.clone()],
                &mut self.fisher[r.clone()],
                &mut self.steps[t],
            );
            let applied = plan.apply(&mut params[t][local], &self.shard[r], state);
            result = result.and(applied.map_err(|e| at_tensor(e, t)));
        }
        self.gather_params(params);
        result
    }

    /// The first rank-local problem with the arguments, if any.
    fn check_input(&self, params: &[&mut [P]], grads: &[&[P]]) -> Option<InputError> {
        let lens = &self.layout.lens;
        let count = |operand, found: usize| {
            (found != lens.len()).then_some(InputError::TensorCount {
                operand,
                expected: lens.len(),
                found,
            })
        };
        let length = |operand, found: &mut dyn Iterator<Item = usize>| {
            found.zip(lens).enumerate().find(|(_, (f, e))| f != *e).map(
                |(tensor, (found, &expected))| InputError::Length {
                    operand,
                    tensor,
                    expected,
                    found,
                },
            )
        };
        count(Operand::Params, params.len())
            .or_else(|| count(Operand::Grads, grads.len()))
            .or_else(|| length(Operand::Params, &mut params.iter().map(|p| p.len())))
            .or_else(|| length(Operand::Grads, &mut grads.iter().map(|g| g.len())))
    }

    /// Reduce-scatters the gradients (zeros where this rank's arguments
    /// are bad: the step is refused after the next collective), round by
    /// round, and divides this rank's shard by the number of ranks.
    fn average_grads(&mut self, grads: Option<&[&[P]]>) {
        let (me, layout) = (self.comm.rank(), &self.layout);
        self.shard.clear();
        self.shard.resize(layout.shard_len(me), P::default());
        let (rounds, piece) = layout.rounds();
        for k in 0..rounds {
            let ranges: Vec<_> = (0..layout.size())
                .map(|r| layout.round_range(r, k, piece))
                .collect();
            self.flat.clear();
            for flat in &ranges {
                let at = self.flat.len();
                self.flat.resize(at + flat.len(), P::default());
                if let Some(grads) = grads {
                    for (t, local, buf) in layout.pieces(flat.clone()) {
                        self.flat[at + buf.start..at + buf.end].copy_from_slice(&grads[t][local]);
                    }
                }
            }
            let counts: Vec<usize> = ranges.iter().map(|r| r.len()).collect();
            let mine = ranges[me].start - layout.cuts[me]..ranges[me].end - layout.cuts[me];
            self.comm
                .reduce_scatter_sum(&self.flat, &counts, &mut self.shard[mine]);
        }
        let n = P::narrow(self.comm.size() as f64);
        for g in &mut self.shard {
            *g = *g / n;
        }
    }

    /// One pass of the sums: this rank's partial sums of every block it
    /// owns of the tensors still reducing, all-gathered with the ranks'
    /// input checks; returns each such tensor's total, folded in block
    /// order (the order of the single-process step).
    fn pass(
        &mut self,
        plans: &[Reduction<P>],
        params: &[&mut [P]],
        input: Option<InputError>,
    ) -> Result<Vec<Option<PartialSums>>, Error> {
        let (me, layout) = (self.comm.rank(), &self.layout);
        let active = |t: usize| !plans[t].is_ready();
        self.words.clear();
        self.words.extend(InputError::encode(input));
        for block in &layout.blocks[layout.rank_blocks(me)] {
            let t = block.tensor;
            if !active(t) {
                continue;
            }
            let sums = match input {
                // A failure here (impossible: lengths are checked) shows
                // as a count mismatch in `absorb`, on every rank.
                None => {
                    let local = layout.local_range(me, t);
                    let at = layout.shard_range(me, t).start + block.range.start - local.start;
                    let r = at..at + block.range.len();
                    plans[t]
                        .partial_sums(
                            &params[t][block.range.clone()],
                            &self.shard[r.clone()],
                            &self.fisher[r],
                        )
                        .unwrap_or(PartialSums::EMPTY)
                }
                Some(_) => PartialSums::EMPTY,
            };
            self.words.extend(sums.to_words());
        }
        let counts: Vec<usize> = (0..layout.size())
            .map(|r| sums_words(layout, r, active))
            .collect();
        self.gathered.clear();
        self.gathered.resize(counts.iter().sum(), 0);
        self.comm
            .all_gather(&self.words, &counts, &mut self.gathered);
        let mut at = 0;
        let mut totals = vec![None; plans.len()];
        for (rank, &count) in counts.iter().enumerate() {
            if let Some(problem) = InputError::decode(&self.gathered[at..at + INPUT_WORDS]) {
                return Err(Error::Input { rank, problem });
            }
            let words =
                self.gathered[at + INPUT_WORDS..at + count].chunks_exact(PartialSums::WORDS);
            let blocks = layout.blocks[layout.rank_blocks(rank)].iter();
            for (block, w) in blocks.filter(|b| active(b.tensor)).zip(words) {
                let sums = PartialSums::from_words(w.try_into().unwrap_or([0; PartialSums::WORDS]));
                let total: &mut Option<PartialSums> = &mut totals[block.tensor];
                *total = Some(total.unwrap_or(PartialSums::EMPTY).combine(&sums));
            }
            at += count;
        }
        for (t, total) in totals.iter_mut().enumerate() {
            if active(t) && total.is_none() {
                *total = Some(PartialSums::EMPTY); // an empty tensor
            }
        }
        Ok(totals)
    }

    /// All-gathers every rank's updated parameter shard into every
    /// replica, round by round.
    fn gather_params(&mut self, params: &mut [&mut [P]]) {
        let (me, layout) = (self.comm.rank(), &self.layout);
        let (rounds, piece) = layout.rounds();
        for k in 0..rounds {
            let ranges: Vec<_> = (0..layout.size())
                .map(|r| layout.round_range(r, k, piece))
                .collect();
            let mine = &ranges[me];
            self.shard.resize(mine.len(), P::default());
            for (t, local, buf) in layout.pieces(mine.clone()) {
                self.shard[buf].copy_from_slice(&params[t][local]);
            }
            let counts: Vec<usize> = ranges.iter().map(|r| r.len()).collect();
            self.flat.clear();
            self.flat.resize(counts.iter().sum(), P::default());
            self.comm
                .all_gather(&self.shard[..mine.len()], &counts, &mut self.flat);
            let mut at = 0;
            for flat in &ranges {
                for (t, local, buf) in layout.pieces(flat.clone()) {
                    params[t][local].copy_from_slice(&self.flat[at + buf.start..at + buf.end]);
                }
                at += flat.len();
            }
        }
    }
}

/// The words rank `r` contributes to a pass: its input check and the
/// partial sums of its blocks of the tensors for which `active` holds.
fn sums_words(layout: &Layout, r: usize, active: impl Fn(usize) -> bool) -> usize {
    let blocks = layout.blocks[layout.rank_blocks(r)]
        .iter()
        .filter(|b| active(b.tensor))
        .count();
    INPUT_WORDS + blocks * PartialSums::WORDS
}

/// Gives a core error of a tensor stepped alone the model's tensor index.
fn at_tensor(e: fadam_core::Error, tensor: usize) -> Error {
    Error::Step(e.with_tensor(tensor))
}
