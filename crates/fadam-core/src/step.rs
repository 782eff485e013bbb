//! Stepping one tensor, or a whole model of many tensors in groups.

use crate::{Buffer, Error, FAdamConfig, Param, Reduction, StateMut, StepStats};

fn check_lengths<S>(
    tensor: usize,
    params: usize,
    grads: usize,
    state: &StateMut<'_, S>,
) -> Result<(), Error> {
    let found = [
        (Buffer::Gradient, grads),
        (Buffer::Momentum, state.momentum().len()),
        (Buffer::Fisher, state.fisher().len()),
    ];
    match found.into_iter().find(|&(_, n)| n != params) {
        Some((buffer, found)) => Err(Error::LengthMismatch {
            tensor,
            buffer,
            expected: params,
            found,
        }),
        None => Ok(()),
    }
}

/// One FAdam step of one tensor: `params` is updated in place with `grads`,
/// and `state` advances by one step.
///
/// # Errors
/// Nothing is written on error. [`Error::Config`], [`Error::OutOfRange`],
/// [`Error::LengthMismatch`], [`Error::NonFiniteParam`],
/// [`Error::InvalidState`], [`Error::NonFiniteGradient`],
/// [`Error::FisherOverflow`], [`Error::StepOverflow`].
///
/// ```
/// use fadam_core::{step, Error, FAdamConfig, State};
///
/// let config = FAdamConfig::new();
/// let mut params = vec![1.0f64, -2.0, 3.0];
/// let mut state = State::new(params.len());
/// let stats = step(&config, &mut params, &[0.5, -0.5, 0.5], state.as_mut()).unwrap();
/// assert_eq!(stats.grad_rms, 0.5);
/// assert!(params[0] < 1.0);
///
/// // A NaN in the gradient is refused and nothing changes.
/// let before = (params.clone(), state.clone());
/// let err = step(&config, &mut params, &[0.5, f64::NAN, 0.5], state.as_mut());
/// assert_eq!(err, Err(Error::NonFiniteGradient { tensor: 0 }));
/// assert_eq!((params, state), before);
/// ```
pub fn step<P: Param>(
    config: &FAdamConfig,
    params: &mut [P],
    grads: &[P],
    state: StateMut<'_, P::State>,
) -> Result<StepStats, Error> {
    check_lengths(0, params.len(), grads.len(), &state)?;
    let mut reduction = Reduction::new(config, state.step(), params.len())?;
    reduction.reduce_whole(params, grads, &state)?;
    reduction.apply_whole(params, grads, state)?;
    Ok(reduction.stats())
}

/// One tensor of a model for [`step_model`]: parameters, gradient, state and
/// the index of its parameter group.
///
/// ```
/// use fadam_core::{StateMut, Tensor};
/// let (mut p, g) = ([1.0f32; 3], [0.1f32; 3]);
/// let (mut m, mut f, mut t) = ([0.0f32; 3], [0.0f32; 3], 0);
/// let bias = Tensor::new(&mut p, &g, StateMut::new(&mut m, &mut f, &mut t)).with_group(1);
/// assert_eq!(bias.group(), 1);
/// assert_eq!(bias.params(), &[1.0; 3]);
/// ```
#[derive(Debug)]
pub struct Tensor<'a, P: Param> {
    params: &'a mut [P],
    grads: &'a [P],
    state: StateMut<'a, P::State>,
    group: usize,
    // The tensor's sums between the two phases of a model step.
    plan: Option<Reduction<P>>,
}

impl<'a, P: Param> Tensor<'a, P> {
    /// A tensor in group 0. Lengths are checked by the step.
    pub fn new(params: &'a mut [P], grads: &'a [P], state: StateMut<'a, P::State>) -> Self {
        Self {
            params,
            grads,
            state,
            group: 0,
            plan: None,
        }
    }

    /// Puts the tensor in parameter group `group` (an index into the
    /// configs given to [`step_model`]).
    #[must_use]
    pub fn with_group(mut self, group: usize) -> Self {
        self.group = group;
        self
    }

    /// The parameter group.
    pub fn group(&self) -> usize {
        self.group
    }

    /// The parameters.
    pub fn params(&self) -> &[P] {
        self.params
    }

    /// The state.
    pub fn state(&mut self) -> StateMut<'_, P::State> {
        self.state.reborrow()
    }
}

/// One step of a whole model: every tensor with its own RMS values and the
/// config of its group (for example no weight decay on biases and norms).
///
/// With the `rayon` feature the tensors are processed in parallel, with the
/// same bits as one thread.
///
/// All-or-nothing: every config, length, group index, parameter, state and
/// gradient is checked,
/// and every tensor's sums computed, before the first tensor is written; an
/// error anywhere leaves every tensor and its state as it was.
///
/// That guarantee has a price on models larger than the cache: the first
/// pass covers every tensor before any update, so each update reads its
/// tensor from memory again. Where one tensor at a time may be refused
/// alone, calling [`step`] per tensor lets each update find in cache what
/// its first pass read (for tensors that fit in a core's cache): 10-20 %
/// faster on the 200-tensor model of `docs/benchmarks.md` ("One call per
/// tensor").
///
/// # Errors
/// As [`step`], with the index of the offending tensor or group;
/// [`Error::UnknownGroup`] for a group index out of range.
///
/// ```
/// use fadam_core::{step_model, FAdamConfig, State, Tensor};
///
/// let groups = [FAdamConfig::new(), FAdamConfig::new().with_weight_decay(0.0)];
/// let (mut weight, mut bias) = (vec![0.5f32; 6], vec![0.0f32; 2]);
/// let (gw, gb) = (vec![0.1f32; 6], vec![-0.2f32; 2]);
/// let (mut sw, mut sb) = (State::new(6), State::new(2));
/// let mut tensors = [
///     Tensor::new(&mut weight, &gw, sw.as_mut()),
///     Tensor::new(&mut bias, &gb, sb.as_mut()).with_group(1),
/// ];
/// step_model(&groups, &mut tensors).unwrap();
/// assert!(bias.iter().all(|&b| b > 0.0));
/// ```
pub fn step_model<P: Param>(
    groups: &[FAdamConfig],
    tensors: &mut [Tensor<'_, P>],
) -> Result<(), Error> {
    for (group, config) in groups.iter().enumerate() {
        config
            .validate()
            .map_err(|error| Error::Config { group, error })?;
    }
    // Phase 1: every tensor's sums; the first error (by tensor index) wins.
    let plan = |(i, t): (usize, &mut Tensor<'_, P>)| -> Result<(), Error> {
        t.plan = None;
        let config = groups.get(t.group).ok_or(Error::UnknownGroup {
            tensor: i,
            group: t.group,
            groups: groups.len(),
        })?;
        check_lengths(i, t.params.len(), t.grads.len(), &t.state)?;
        let mut plan = Reduction::for_tensor(config, t.state.step(), t.params.len(), i, t.group)?;
        plan.reduce_whole(t.params, t.grads, &t.state)?;
        t.plan = Some(plan);
        Ok(())
    };
    // Phase 2, only once every tensor is ready.
    let apply = |t: &mut Tensor<'_, P>| -> Result<(), Error> {
        let plan = t.plan.take().ok_or(Error::NotReady)?;
        plan.apply_whole(t.params, t.grads, t.state.reborrow())
    };
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        let results: alloc::vec::Vec<_> = tensors.par_iter_mut().enumerate().map(plan).collect();
        results.into_iter().collect::<Result<(), Error>>()?;
        tensors.par_iter_mut().try_for_each(apply)?;
    }
    #[cfg(not(feature = "rayon"))]
    {
        tensors.iter_mut().enumerate().try_for_each(plan)?;
        tensors.iter_mut().try_for_each(apply)?;
    }
    Ok(())
}
