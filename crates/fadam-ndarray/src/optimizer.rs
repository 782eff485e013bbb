//! The optimizer: hyperparameter groups plus per-parameter state.

use fadam_core::{Buffer, FAdamConfig, Param, Tensor, step_model};
use ndarray::{ArrayBase, ArrayViewD, ArrayViewMutD, Data, DataMut, Dimension};

use crate::layout::{gather, oriented, oriented_mut, scatter};
use crate::{Error, ParamState, StateOrder};

/// An FAdam (or Adam, AdamW) optimizer for `ndarray` parameters of element
/// type `A` (`f32` or `f64`): parameter groups (one [`FAdamConfig`] each)
/// and one [`ParamState`] per parameter array.
///
/// The parameter set (how many arrays, in which order, of which shapes) is
/// taken from the first step and must stay the same afterwards; a step that
/// differs is refused with [`Error::ParamCount`] or [`Error::ParamShape`].
/// Parameters are identified by their position in the step, so give them in
/// the same order every time.
///
/// Every step goes through one [`fadam_core::step_model`] call for all of its
/// parameters, so it is all-or-nothing: when it returns an error no
/// parameter and no state has changed.
///
/// ```
/// use fadam_ndarray::{FAdam, FAdamConfig};
/// use ndarray::{array, Array1};
///
/// // Fit y = 2x + 1 with a weight matrix (group 0: FAdam without weight
/// // decay) and a bias (group 1: Adam).
/// let x = array![[0.0], [1.0], [2.0], [3.0]];
/// let y = array![1.0, 3.0, 5.0, 7.0];
/// let mut w = array![[0.0]];
/// let mut b = Array1::<f64>::zeros(1);
/// let mut opt = FAdam::with_groups(vec![
///     FAdamConfig::new().with_lr(0.05).with_weight_decay(0.0),
///     FAdamConfig::adam().with_lr(0.05),
/// ]);
/// for _ in 0..1000 {
///     let err = x.dot(&w).column(0).to_owned() + b[0] - &y;
///     let gw = x.t().dot(&err.view().insert_axis(ndarray::Axis(1))) / 4.0;
///     let gb = Array1::from_elem(1, err.mean().unwrap());
///     opt.begin_step()
///         .param(&mut w, &gw)
///         .param_in_group(1, &mut b, &gb)
///         .finish()
///         .unwrap();
/// }
/// assert!((w[[0, 0]] - 2.0).abs() < 0.05 && (b[0] - 1.0).abs() < 0.1, "{w} {b}");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct FAdam<A: Param> {
    groups: Vec<FAdamConfig>,
    states: Vec<ParamState<A::State>>,
}

impl<A: Param> Default for FAdam<A> {
    fn default() -> Self {
        Self::new(FAdamConfig::new())
    }
}

impl<A: Param> FAdam<A> {
    /// An optimizer with one group: every parameter is stepped with `config`
    /// ([`FAdamConfig::new`] for FAdam, [`FAdamConfig::adam`] for Adam,
    /// [`FAdamConfig::adamw`] for AdamW, or any mix of the switches).
    ///
    /// ```
    /// use fadam_ndarray::{FAdam, FAdamConfig};
    /// let adam = FAdam::<f32>::new(FAdamConfig::adam().with_lr(1e-2));
    /// assert_eq!(adam.groups()[0].lr, 1e-2);
    /// ```
    pub fn new(config: FAdamConfig) -> Self {
        Self::with_groups(vec![config])
    }

    /// An optimizer with several parameter groups; a parameter names its
    /// group by index ([`Step::param_in_group`], [`FAdam::step_grouped`]).
    /// Configs are validated at every step, not here.
    pub fn with_groups(groups: Vec<FAdamConfig>) -> Self {
        Self {
            groups,
            states: Vec::new(),
        }
    }

    /// The parameter groups' configs.
    pub fn groups(&self) -> &[FAdamConfig] {
        &self.groups
    }

    /// The parameter groups' configs, to change between steps (a learning
    /// rate schedule, say).
    pub fn groups_mut(&mut self) -> &mut [FAdamConfig] {
        &mut self.groups
    }

    /// Sets the learning rate of every group.
    ///
    /// ```
    /// use fadam_ndarray::{FAdam, FAdamConfig};
    /// let mut opt = FAdam::<f64>::with_groups(vec![FAdamConfig::new(); 2]);
    /// opt.set_lr(3e-4);
    /// assert!(opt.groups().iter().all(|g| g.lr == 3e-4));
    /// ```
    pub fn set_lr(&mut self, lr: f64) {
        for group in &mut self.groups {
            group.lr = lr;
        }
    }

    /// The per-parameter state, in parameter order; empty before the first
    /// step. With the `serde` feature this is what to save.
    pub fn state(&self) -> &[ParamState<A::State>] {
        &self.states
    }

    /// Replaces the per-parameter state, for example with one saved from
    /// [`state`](Self::state); the next step checks its parameters against
    /// it. An empty `states` means "no state yet": the next step starts
    /// afresh.
    ///
    /// ```
    /// use fadam_ndarray::{FAdam, FAdamConfig};
    /// use ndarray::array;
    ///
    /// let mut run = FAdam::<f64>::new(FAdamConfig::new());
    /// let (mut w, g) = (array![1.0, 2.0], array![0.1, -0.2]);
    /// run.begin_step().param(&mut w, &g).finish().unwrap();
    ///
    /// // Resume in another optimizer with the same config.
    /// let mut resumed = FAdam::<f64>::new(FAdamConfig::new());
    /// resumed.load_state(run.state().to_vec());
    /// assert_eq!(resumed.steps(), 1);
    /// ```
    pub fn load_state(&mut self, states: Vec<ParamState<A::State>>) {
        self.states = states;
    }

    /// Takes the per-parameter state out, leaving none.
    pub fn take_state(&mut self) -> Vec<ParamState<A::State>> {
        core::mem::take(&mut self.states)
    }

    /// Forgets all state: the next step starts afresh with whatever
    /// parameter set it is given.
    pub fn reset(&mut self) {
        self.states.clear();
    }

    /// Steps taken so far (of the first parameter; all parameters advance
    /// together). 0 before the first step.
    pub fn steps(&self) -> u64 {
        self.states.first().map_or(0, ParamState::step)
    }

    /// Starts collecting the parameters and gradients of one step; add them
    /// with [`Step::param`] and [`Step::param_in_group`], then call
    /// [`Step::finish`]. Arrays of any dimension, owned arrays and views,
    /// contiguous or not, can be mixed.
    pub fn begin_step<'o, 'a>(&'o mut self) -> Step<'o, 'a, A> {
        Step {
            optimizer: self,
            params: Vec::new(),
            grads: Vec::new(),
            groups: Vec::new(),
        }
    }

    /// One step of every parameter (all in group 0) with its gradient, from
    /// dynamic-dimension views; `grads[i]` goes with `params[i]`.
    ///
    /// # Errors
    /// See [`Error`]; nothing is written on error.
    ///
    /// ```
    /// use fadam_ndarray::{FAdam, FAdamConfig};
    /// use ndarray::{Array1, Array2};
    ///
    /// let mut w = Array2::<f32>::ones((2, 3));
    /// let mut b = Array1::<f32>::zeros(2);
    /// let (gw, gb) = (Array2::from_elem((2, 3), 0.5f32), Array1::from_elem(2, -0.5f32));
    /// let mut opt = FAdam::new(FAdamConfig::new());
    /// opt.step(
    ///     &mut [w.view_mut().into_dyn(), b.view_mut().into_dyn()],
    ///     &[gw.view().into_dyn(), gb.view().into_dyn()],
    /// )
    /// .unwrap();
    /// assert!(w.iter().all(|&x| x < 1.0) && b.iter().all(|&x| x > 0.0));
    /// ```
    pub fn step(
        &mut self,
        params: &mut [ArrayViewMutD<'_, A>],
        grads: &[ArrayViewD<'_, A>],
    ) -> Result<(), Error> {
        self.run(params, grads, None)
    }

    /// As [`step`](Self::step), with the group index of each parameter.
    ///
    /// # Errors
    /// See [`Error`]; nothing is written on error. [`Error::GroupCount`] if
    /// `groups` does not have one index per parameter.
    pub fn step_grouped(
        &mut self,
        params: &mut [ArrayViewMutD<'_, A>],
        grads: &[ArrayViewD<'_, A>],
        groups: &[usize],
    ) -> Result<(), Error> {
        self.run(params, grads, Some(groups))
    }

    /// One step, in phases: check the shapes, choose the state, gather
    /// what is not contiguous, step every tensor in one core call, scatter
    /// back. Nothing is written until the core call succeeds.
    fn run(
        &mut self,
        params: &mut [ArrayViewMutD<'_, A>],
        grads: &[ArrayViewD<'_, A>],
        groups: Option<&[usize]>,
    ) -> Result<(), Error> {
        check_shapes(params, grads, groups)?;
        // The optimizer's state, checked against the parameter set, or a
        // fresh one kept aside until the step succeeds.
        let mut fresh = self.states.is_empty().then(|| {
            params
                .iter()
                .map(|p| ParamState::zeros(p.shape().to_vec(), StateOrder::for_layout(p)))
                .collect::<Vec<_>>()
        });
        let states = match &mut fresh {
            Some(fresh) => fresh,
            None => {
                check_states(&self.states, params)?;
                &mut self.states
            }
        };
        let mut param_bufs: Vec<_> = params
            .iter()
            .zip(states.iter())
            .map(|(p, s)| gather(p.view(), s.order()))
            .collect();
        let grad_bufs: Vec<_> = grads
            .iter()
            .zip(states.iter())
            .map(|(g, s)| gather(g.view(), s.order()))
            .collect();
        step_tensors(
            &self.groups,
            (params, &mut param_bufs),
            (grads, &grad_bufs),
            groups,
            states,
        )?;
        scatter(params, param_bufs, states);
        if let Some(fresh) = fresh {
            self.states = fresh;
        }
        Ok(())
    }
}

/// Checks the counts of gradients and group indices and every gradient's
/// shape against the parameters.
fn check_shapes<A>(
    params: &[ArrayViewMutD<'_, A>],
    grads: &[ArrayViewD<'_, A>],
    groups: Option<&[usize]>,
) -> Result<(), Error> {
    let expected = params.len();
    if grads.len() != expected {
        return Err(Error::GradientCount {
            expected,
            found: grads.len(),
        });
    }
    if let Some(groups) = groups.filter(|groups| groups.len() != expected) {
        return Err(Error::GroupCount {
            expected,
            found: groups.len(),
        });
    }
    let shapes = first_mismatch(
        params.iter().map(|p| p.shape()),
        grads.iter().map(|g| g.shape()),
    );
    shapes.map_or(Ok(()), |(tensor, expected, found)| {
        Err(Error::ShapeMismatch {
            tensor,
            buffer: Buffer::Gradient,
            expected,
            found,
        })
    })
}

/// Checks that the parameter set is the one `states` was made for.
fn check_states<A, S>(
    states: &[ParamState<S>],
    params: &[ArrayViewMutD<'_, A>],
) -> Result<(), Error> {
    if states.len() != params.len() {
        return Err(Error::ParamCount {
            expected: states.len(),
            found: params.len(),
        });
    }
    let shapes = first_mismatch(
        states.iter().map(|s| s.shape()),
        params.iter().map(|p| p.shape()),
    );
    shapes.map_or(Ok(()), |(tensor, expected, found)| {
        Err(Error::ParamShape {
            tensor,
            expected,
            found,
        })
    })
}

/// The first index at which two lists of shapes differ, with both shapes.
fn first_mismatch<'s>(
    expected: impl Iterator<Item = &'s [usize]>,
    found: impl Iterator<Item = &'s [usize]>,
) -> Option<(usize, Vec<usize>, Vec<usize>)> {
    expected
        .zip(found)
        .enumerate()
        .find(|(_, (e, f))| e != f)
        .map(|(i, (e, f))| (i, e.to_vec(), f.to_vec()))
}

/// Steps every tensor in one [`step_model`] call, each from its gathered
/// buffer where it has one and in place otherwise.
fn step_tensors<A: Param>(
    configs: &[FAdamConfig],
    (params, param_bufs): (&mut [ArrayViewMutD<'_, A>], &mut [Option<Vec<A>>]),
    (grads, grad_bufs): (&[ArrayViewD<'_, A>], &[Option<Vec<A>>]),
    groups: Option<&[usize]>,
    states: &mut [ParamState<A::State>],
) -> Result<(), Error> {
    let mut tensors: Vec<Tensor<'_, A>> = Vec::with_capacity(params.len());
    for (i, (((p, g), (pbuf, gbuf)), s)) in params
        .iter_mut()
        .zip(grads)
        .zip(param_bufs.iter_mut().zip(grad_bufs))
        .zip(states.iter_mut())
        .enumerate()
    {
        let order = s.order();
        // Neither fallback to an empty slice can happen (a view without a
        // buffer is contiguous in `order`); were it to, the core would
        // refuse the step with a length mismatch.
        let params: &mut [A] = match pbuf {
            Some(buf) => buf,
            None => oriented_mut(p.view_mut(), order)
                .into_slice()
                .unwrap_or_default(),
        };
        let grads: &[A] = match gbuf {
            Some(buf) => buf,
            None => oriented(g.view(), order).to_slice().unwrap_or_default(),
        };
        let group = groups.map_or(0, |groups| groups[i]);
        tensors.push(Tensor::new(params, grads, s.as_core()).with_group(group));
    }
    step_model(configs, &mut tensors)?;
    Ok(())
}

/// The parameters and gradients of one step, collected by
/// [`FAdam::begin_step`] and stepped together by [`finish`](Self::finish).
#[must_use = "nothing is stepped until `finish` is called"]
#[derive(Debug)]
pub struct Step<'o, 'a, A: Param> {
    optimizer: &'o mut FAdam<A>,
    params: Vec<ArrayViewMutD<'a, A>>,
    grads: Vec<ArrayViewD<'a, A>>,
    groups: Vec<usize>,
}

impl<'a, A: Param> Step<'_, 'a, A> {
    /// Adds a parameter (an owned array or a mutable view, any dimension,
    /// any layout) in group 0 with its gradient.
    pub fn param(
        self,
        param: &'a mut ArrayBase<impl DataMut<Elem = A>, impl Dimension>,
        grad: &'a ArrayBase<impl Data<Elem = A>, impl Dimension>,
    ) -> Self {
        self.param_in_group(0, param, grad)
    }

    /// Adds a parameter in parameter group `group` (an index into
    /// [`FAdam::groups`]) with its gradient.
    ///
    /// ```
    /// use fadam_ndarray::{FAdam, FAdamConfig};
    /// use ndarray::{Array1, Array2};
    ///
    /// let mut opt = FAdam::with_groups(vec![
    ///     FAdamConfig::adamw().with_lr(1e-2),
    ///     FAdamConfig::adamw().with_lr(1e-2).with_weight_decay(0.0),
    /// ]);
    /// let (mut w, mut b) = (Array2::<f64>::ones((3, 2)), Array1::<f64>::ones(2));
    /// let (gw, gb) = (Array2::zeros((3, 2)), Array1::zeros(2));
    /// opt.begin_step()
    ///     .param(&mut w, &gw)
    ///     .param_in_group(1, &mut b, &gb)
    ///     .finish()
    ///     .unwrap();
    /// assert!(w.iter().all(|&x| x < 1.0)); // decayed
    /// assert!(b.iter().all(|&x| x == 1.0)); // no decay, zero gradient
    /// ```
    pub fn param_in_group(
        mut self,
        group: usize,
        param: &'a mut ArrayBase<impl DataMut<Elem = A>, impl Dimension>,
        grad: &'a ArrayBase<impl Data<Elem = A>, impl Dimension>,
    ) -> Self {
        self.params.push(param.view_mut().into_dyn());
        self.grads.push(grad.view().into_dyn());
        self.groups.push(group);
        self
    }

    /// The number of parameters added so far.
    pub fn len(&self) -> usize {
        self.params.len()
    }

    /// Whether no parameter has been added.
    pub fn is_empty(&self) -> bool {
        self.params.is_empty()
    }

    /// Steps every parameter added, all or nothing.
    ///
    /// # Errors
    /// See [`Error`]; nothing is written on error.
    pub fn finish(mut self) -> Result<(), Error> {
        self.optimizer
            .run(&mut self.params, &self.grads, Some(&self.groups))
    }
}
