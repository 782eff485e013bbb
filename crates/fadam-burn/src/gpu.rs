//! The step on burn's wgpu backend as fadam-wgpu's compute passes, on the
//! tensors' own buffers: 7 dispatches per tensor, where the
//! tensor-operation step takes about 70 kernel launches.

use std::any::{Any, TypeId};
use std::fmt;
use std::num::NonZeroU64;
use std::sync::Arc;

use burn::backend::Cube;
use burn::backend::wgpu::{AutoCompiler, CubeTensor, WgpuInitError, wgpu};
use burn::tensor::wgpu::WgpuOptions;
use burn::tensor::{BackendPrimitive, DType, Device, Float, Tensor};
use burn_cubecl::cubecl::wgpu::WgpuServer;
use fadam_wgpu::{TensorBuffers, TensorStep};

use crate::FAdamState;
use crate::optimizer::Declined;

/// burn's wgpu device, initialized here, with FAdam's compute passes
/// ([`fadam_wgpu::TensorStep`]) on its wgpu device and queue: give it to
/// [`FAdam::with_wgpu`](crate::FAdam::with_wgpu), and train on
/// [`device`](Self::device).
///
/// A step of an `f32` tensor on this device then runs fadam-wgpu's passes
/// on the buffers of the parameter, the gradient and the state, in place
/// (7 dispatches per tensor, no read-back), with the results of
/// fadam-wgpu (the core's to rounding). Tensors elsewhere, `f64`/`f16`
/// tensors, autodiff tensors and strided ones take the tensor-operation
/// step, and so does every tensor when burn's `fusion` feature is on (its
/// tensors are fusion handles, not buffers); a tensor that shares its
/// buffer with another (a clone the caller kept) is copied first, never
/// written through.
///
/// ```no_run
/// use burn::optim::Optimizer;
/// use burn::tensor::Tensor;
/// use fadam_burn::{FAdamConfig, WgpuKernels};
///
/// let kernels = WgpuKernels::init()?;
/// let device = kernels.device();
/// let optimizer = FAdamConfig::new().build().with_wgpu(&kernels);
/// let theta = Tensor::<1>::from_floats([1.0, -2.0], device);
/// let grad = Tensor::<1>::from_floats([0.5, 0.25], device);
/// let (theta, _state) = optimizer.step(1e-2, theta, grad, None);
/// # Ok::<(), fadam_burn::WgpuKernelsError>(())
/// ```
#[derive(Clone)]
pub struct WgpuKernels {
    device: Device,
    step: Arc<TensorStep>,
}

impl fmt::Debug for WgpuKernels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WgpuKernels")
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

/// Why [`WgpuKernels`] could not be made.
#[derive(Debug)]
#[non_exhaustive]
pub enum WgpuKernelsError {
    /// burn's wgpu runtime could not be initialized: no adapter, or this
    /// device was initialized already (by a tensor operation on it, or
    /// another call).
    Init(WgpuInitError),
    /// The device cannot run fadam-wgpu's passes.
    Kernels(fadam_wgpu::Error),
}

impl fmt::Display for WgpuKernelsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Init(e) => write!(f, "burn's wgpu runtime: {e}"),
            Self::Kernels(e) => write!(f, "fadam-wgpu: {e}"),
        }
    }
}

impl std::error::Error for WgpuKernelsError {}

impl WgpuKernels {
    /// burn's default wgpu device (the first high-performance adapter),
    /// initialized now: call it before any tensor operation on that device.
    ///
    /// # Errors
    /// As [`with_options`](Self::with_options).
    #[cfg(not(target_family = "wasm"))]
    pub fn init() -> Result<Self, WgpuKernelsError> {
        Self::with_options(Device::wgpu_options())
    }

    /// The wgpu device burn's `options` select, initialized now.
    ///
    /// # Errors
    /// [`WgpuKernelsError::Init`] when there is no adapter or that device
    /// was initialized already; [`WgpuKernelsError::Kernels`] when it cannot
    /// run the passes.
    #[cfg(not(target_family = "wasm"))]
    pub fn with_options(options: WgpuOptions) -> Result<Self, WgpuKernelsError> {
        let (device, setup) = options.init_with_setup().map_err(WgpuKernelsError::Init)?;
        let step =
            TensorStep::new(&setup.device, &setup.queue).map_err(WgpuKernelsError::Kernels)?;
        Ok(Self {
            device,
            step: Arc::new(step),
        })
    }

    /// burn's device the passes run on.
    pub fn device(&self) -> &Device {
        &self.device
    }
}

/// burn's float primitive on its CubeCL backend: a [`CubeTensor`], or a
/// fusion handle when a crate in the build turns on burn's `fusion`
/// feature (then the passes do not apply: the tensor-operation step runs,
/// and burn fuses it). Compared by type at run time, so that fadam-burn
/// builds either way.
type Primitive = <Float as BackendPrimitive<Cube>>::Primitive;

/// Whether burn's CubeCL tensors are [`CubeTensor`]s in this build.
fn plain_cube() -> bool {
    TypeId::of::<Primitive>() == TypeId::of::<CubeTensor>()
}

/// `value` as `B`, which is its own type: a [`Primitive`] as a
/// [`CubeTensor`] and back, once [`plain_cube`] has said they are one.
fn same_type<A: Any, B: Any>(value: A) -> B {
    // Through an `Option` on the stack: no allocation per tensor and step.
    let mut slot = Some(value);
    (&mut slot as &mut dyn Any)
        .downcast_mut::<Option<B>>()
        .and_then(Option::take)
        .expect("the types are one (plain_cube)")
}

/// A tensor on its way to the passes: its cubecl primitive, or the tensor
/// itself when it has none (autodiff, another backend). Made only where
/// [`plain_cube`] holds.
enum Held<const D: usize> {
    Tensor(Tensor<D>),
    Cube(CubeTensor),
}

impl<const D: usize> Held<D> {
    fn new(t: Tensor<D>) -> Self {
        // The conversion's error does not give the tensor back: keep a
        // clone, dropped before anything asks whether the buffer is shared.
        let kept = t.clone();
        match t.try_into_primitive::<Cube>() {
            Ok(p) => Self::Cube(same_type::<Primitive, CubeTensor>(p)),
            Err(_) => Self::Tensor(kept),
        }
    }

    fn into_tensor(self) -> Tensor<D> {
        match self {
            Self::Tensor(t) => t,
            Self::Cube(c) => Tensor::from_primitive::<Cube>(same_type::<CubeTensor, Primitive>(c)),
        }
    }

    fn cube(&self) -> Option<&CubeTensor> {
        match self {
            Self::Tensor(_) => None,
            Self::Cube(p) => Some(p),
        }
    }

    /// Its own buffer to write: a copy when the buffer is shared (whoever
    /// shares it keeps the old values).
    fn make_writable(&mut self) {
        if let Self::Cube(p) = self
            && !p.can_mut()
        {
            *p = p.copy();
        }
    }
}

/// Positions in the tensors of [`run`]: the gradient is only read.
const GRAD: usize = 1;

/// The step of one tensor by `kernels`, or the inputs back, with their
/// values, when it does not apply: another device, not `f32`, autodiff,
/// strided, or a step constant out of `f32` range.
pub(crate) fn step<const D: usize>(
    kernels: &WgpuKernels,
    config: &fadam_core::FAdamConfig,
    (tensor, grad, state): Declined<D>,
) -> Result<(Tensor<D>, FAdamState<D>), Box<Declined<D>>> {
    let here = |device: Device, dtype: DType| device == kernels.device && dtype == DType::F32;
    let applies = [&tensor, &grad, &state.momentum, &state.fisher]
        .iter()
        .all(|t| here(t.device(), t.dtype()))
        && [&state.refused, &state.bias_1, &state.bias_2]
            .iter()
            .all(|t| here(t.device(), t.dtype()));
    if !applies || !plain_cube() {
        return Err(Box::new((tensor, grad, state)));
    }
    let n = tensor.shape().num_elements() as u64;
    let calls = state.calls;
    let mut large = [tensor, grad, state.momentum, state.fisher].map(Held::new);
    let mut counters = [state.refused, state.bias_1, state.bias_2].map(Held::new);
    let done = run(kernels, config, calls, n, &mut large, &mut counters).is_some();
    let [tensor, grad, momentum, fisher] = large.map(Held::into_tensor);
    let [refused, bias_1, bias_2] = counters.map(Held::into_tensor);
    let state = FAdamState {
        momentum,
        fisher,
        calls: calls + u64::from(done),
        refused,
        bias_1,
        bias_2,
    };
    if done {
        Ok((tensor, state))
    } else {
        Err(Box::new((tensor, grad, state)))
    }
}

/// Binds the parameter, gradient, momentum and Fisher diagonal (`large`)
/// and the refused count and bias terms (`counters`), and submits the
/// step; `None` (nothing submitted) when one of them cannot be bound.
fn run<const D: usize>(
    kernels: &WgpuKernels,
    config: &fadam_core::FAdamConfig,
    calls: u64,
    n: u64,
    large: &mut [Held<D>; 4],
    counters: &mut [Held<1>; 3],
) -> Option<()> {
    let contiguous = |p: Option<&CubeTensor>| p.is_some_and(CubeTensor::is_contiguous);
    if !(large.iter().all(|h| contiguous(h.cube()))
        && counters.iter().all(|h| contiguous(h.cube())))
    {
        return None;
    }
    for (i, h) in large.iter_mut().enumerate() {
        if i != GRAD {
            h.make_writable();
        }
    }
    counters.iter_mut().for_each(Held::make_writable);
    let cubes: Vec<&CubeTensor> = large
        .iter()
        .map(Held::cube)
        .chain(counters.iter().map(Held::cube))
        .collect::<Option<_>>()?;
    // Each tensor's buffer range (held: cubecl keeps the range in place
    // and hands it to no one else until the step is submitted).
    let resources: Vec<_> = cubes
        .iter()
        .map(|p| {
            p.client
                .get_resource::<WgpuServer<AutoCompiler>>(p.handle.clone())
                .ok()
        })
        .collect::<Option<_>>()?;
    // burn's work that writes these buffers reaches the queue first.
    cubes[0].client.flush().ok()?;
    let bindings: Vec<_> = resources
        .iter()
        .map(|r| {
            let r = r.resource();
            wgpu::BufferBinding {
                buffer: &r.buffer,
                offset: r.offset,
                size: NonZeroU64::new(r.size),
            }
        })
        .collect();
    let [theta, grad, momentum, fisher, refused, bias_1, bias_2] =
        <[_; 7]>::try_from(bindings).ok()?;
    let buffers = TensorBuffers {
        theta,
        grad,
        momentum,
        fisher,
        refused,
        bias_1,
        bias_2,
    };
    kernels.step.step(config, calls, n, &buffers).ok()
}
