//! `TensorStep` (one tensor in buffers someone else made) against
//! `FAdamGpu` (bit for bit: the same shaders) and fadam-core, refused steps
//! and the device-side step count, and the checks of its bindings. Run on
//! Mesa llvmpipe in CI.
#![cfg(not(target_arch = "wasm32"))]

mod common;
mod shared;

use common::{Reference, TOL, bits, gpu, grads_of, params_of, read};
use fadam_core::{DecayMode, FAdamConfig, MomentumMode};
use fadam_testkit::close::{Floor, assert_close};
use fadam_testkit::rng::{Draw, seeded};
use fadam_wgpu::{Error, FAdamGpu, Layout, TensorBuffers, TensorStep, wgpu};
use wgpu::util::DeviceExt;

/// A framework's memory pool in miniature: the parameters, gradient,
/// momentum and Fisher diagonal of one tensor as four aligned slices of
/// one buffer, the three counters as slices of another.
struct Pool {
    data: wgpu::Buffer,
    counters: wgpu::Buffer,
    /// Elements from one slice of `data` to the next.
    stride: u64,
    /// Elements from one counter to the next.
    counter_stride: u64,
    len: u64,
}

/// The slices of `data`, and of `counters`.
const THETA: u64 = 0;
const GRAD: u64 = 1;
const MOMENTUM: u64 = 2;
const FISHER: u64 = 3;
const REFUSED: u64 = 0;
const BIAS_1: u64 = 1;
const BIAS_2: u64 = 2;

impl Pool {
    fn new(device: &wgpu::Device, theta: &[f32]) -> Self {
        let align = u64::from(device.limits().min_storage_buffer_offset_alignment) / 4;
        let len = theta.len() as u64;
        let stride = len.next_multiple_of(align) + align;
        let mut data = vec![0.0f32; (4 * stride) as usize];
        data[..theta.len()].copy_from_slice(theta);
        let usage = wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_SRC
            | wgpu::BufferUsages::COPY_DST;
        let init = |contents: &[f32]| {
            device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("pool"),
                contents: bytemuck::cast_slice(contents),
                usage,
            })
        };
        Self {
            data: init(&data),
            counters: init(&vec![0.0; (3 * align) as usize]),
            stride,
            counter_stride: align,
            len,
        }
    }

    fn binding(&self, slice: u64) -> wgpu::BufferBinding<'_> {
        wgpu::BufferBinding {
            buffer: &self.data,
            offset: slice * self.stride * 4,
            size: wgpu::BufferSize::new(self.len * 4),
        }
    }

    fn counter(&self, slice: u64) -> wgpu::BufferBinding<'_> {
        wgpu::BufferBinding {
            buffer: &self.counters,
            offset: slice * self.counter_stride * 4,
            size: wgpu::BufferSize::new(4),
        }
    }

    fn buffers(&self) -> TensorBuffers<'_> {
        TensorBuffers {
            theta: self.binding(THETA),
            grad: self.binding(GRAD),
            momentum: self.binding(MOMENTUM),
            fisher: self.binding(FISHER),
            refused: self.counter(REFUSED),
            bias_1: self.counter(BIAS_1),
            bias_2: self.counter(BIAS_2),
        }
    }

    fn set_grad(&self, queue: &wgpu::Queue, g: &[f32]) {
        queue.write_buffer(&self.data, GRAD * self.stride * 4, bytemuck::cast_slice(g));
    }

    /// Parameters, momentum, Fisher diagonal, and the counters.
    fn read(&self) -> (Vec<f32>, Vec<f32>, Vec<f32>, [f32; 3]) {
        let (device, queue) = gpu().unwrap();
        let data = read(device, queue, &self.data);
        let counters = read(device, queue, &self.counters);
        let slice = |s: u64| data[(s * self.stride) as usize..][..self.len as usize].to_vec();
        let counter = |s: u64| counters[(s * self.counter_stride) as usize];
        (
            slice(THETA),
            slice(MOMENTUM),
            slice(FISHER),
            [REFUSED, BIAS_1, BIAS_2].map(counter),
        )
    }
}

fn kernels() -> Option<&'static TensorStep> {
    use std::sync::OnceLock;
    static KERNELS: OnceLock<Option<TensorStep>> = OnceLock::new();
    KERNELS
        .get_or_init(|| {
            let (device, queue) = gpu()?;
            Some(TensorStep::new(device, queue).unwrap())
        })
        .as_ref()
}

/// Twelve steps of a tensor of `n` elements with `config`: the same bits
/// as `FAdamGpu`'s step of a one-tensor model, and fadam-core's values to
/// rounding; the bias terms as the recurrence gives them.
fn against_fadam_gpu(n: u64, config: FAdamConfig, seed: u64) {
    let Some(kernels) = kernels() else { return };
    let (device, queue) = gpu().unwrap();
    let mut rng = seeded(seed);
    let p0 = rng.vec_f32(n as usize, 1.0);
    let pool = Pool::new(device, &p0);
    let layout = Layout::packed([(n, 0)]).unwrap();
    let mut whole = FAdamGpu::new(device, queue, layout.clone(), &[config]).unwrap();
    let whole_params = params_of(&whole, &p0);
    let mut reference = Reference::new(&layout, &[config], &p0);
    for call in 0..12 {
        let g = rng.vec_f32(n as usize, 1.0);
        pool.set_grad(queue, &g);
        kernels.step(&config, call, n, &pool.buffers()).unwrap();
        whole.step(&whole_params, &grads_of(&whole, &g)).unwrap();
        reference.step(&g).unwrap();
        whole.wait().unwrap();
        let (theta, m, f, counters) = pool.read();
        let (wm, wf, _) = whole.read_state().unwrap().into_parts();
        let what = format!("n={n} {config:?} step {}", call + 1);
        // (An arena buffer holds at least 16 bytes.)
        let whole_theta = read(device, queue, whole_params.buffer());
        assert_eq!(
            bits(&theta),
            bits(&whole_theta[..n as usize]),
            "{what}: params"
        );
        assert_eq!(
            (bits(&m), bits(&f)),
            (bits(&wm), bits(&wf)),
            "{what}: state"
        );
        assert_close(&what, &theta, &reference.params, TOL, Floor::Largest(0.1));
        let t = (call + 1) as i32;
        let bias = |beta: f64| 1.0 - beta.powi(t);
        assert_eq!(counters[0], 0.0, "{what}: refused");
        for (got, beta) in [(counters[1], config.beta1), (counters[2], config.beta2)] {
            assert!(
                (f64::from(got) - bias(beta)).abs() < 1e-6,
                "{what}: bias {got}"
            );
        }
    }
}

#[test]
fn sizes_match_fadam_gpu_bit_for_bit() {
    for n in [1, 255, 4096, 4097, 65537] {
        against_fadam_gpu(n, FAdamConfig::new(), n);
    }
}

#[test]
fn switches_match_fadam_gpu_bit_for_bit() {
    let adam = FAdamConfig::new().with_momentum(MomentumMode::Adam);
    for config in [
        adam,
        adam.with_decay(DecayMode::Decoupled),
        FAdamConfig::new()
            .with_decay(DecayMode::L2)
            .with_maximize(true),
        FAdamConfig::new().with_fisher_power(0.25),
        FAdamConfig {
            clip: None,
            ..FAdamConfig::adam()
        },
    ] {
        against_fadam_gpu(1000, config.with_lr(0.01), 3);
    }
}

/// A NaN gradient refuses the step: the parameters and the state keep
/// their bits, the refused count grows and the bias terms stay. The next
/// steps form their constants on the GPU from the bias terms (the host
/// cannot know the count): the core's values, stepped on the steps taken.
#[test]
fn refused_steps_count_on_the_gpu() {
    let Some(kernels) = kernels() else { return };
    let (_, queue) = gpu().unwrap();
    let n = 777;
    let config = FAdamConfig::new()
        .with_momentum(MomentumMode::Adam)
        .with_lr(0.01);
    let mut rng = seeded(11);
    let p0 = rng.vec_f32(n, 1.0);
    let pool = Pool::new(&gpu().unwrap().0, &p0);
    let layout = Layout::packed([(n as u64, 0)]).unwrap();
    let mut reference = Reference::new(&layout, &[config], &p0);
    let mut refused = 0.0;
    for call in 0..10u64 {
        let mut g = rng.vec_f32(n, 1.0);
        let refuse = call == 2 || call == 5 || call == 6;
        if refuse {
            g[n / 2] = f32::NAN;
        }
        let before = pool.read();
        pool.set_grad(queue, &g);
        kernels
            .step(&config, call, n as u64, &pool.buffers())
            .unwrap();
        let after = pool.read();
        if refuse {
            refused += 1.0;
            assert_eq!(bits(&after.0), bits(&before.0), "params at call {call}");
            assert_eq!(bits(&after.1), bits(&before.1), "momentum at call {call}");
            assert_eq!(bits(&after.2), bits(&before.2), "fisher at call {call}");
            assert_eq!(after.3[1..], before.3[1..], "bias terms at call {call}");
            assert!(reference.step(&g).is_err());
        } else {
            reference.step(&g).unwrap();
            assert_close(
                &format!("call {call}"),
                &after.0,
                &reference.params,
                TOL,
                Floor::Largest(0.1),
            );
        }
        assert_eq!(after.3[0], refused, "refused count at call {call}");
    }
}

/// Bindings the device would refuse are errors before anything is
/// recorded: nothing changes.
#[test]
fn bad_bindings_are_refused() {
    let Some(kernels) = kernels() else { return };
    let (device, queue) = gpu().unwrap();
    let pool = Pool::new(device, &[1.0; 100]);
    pool.set_grad(queue, &[0.5; 100]);
    let before = pool.read();
    let config = FAdamConfig::new();
    let expect = |buffers: TensorBuffers<'_>, len, binding: &str| match kernels
        .step(&config, 0, len, &buffers)
    {
        Err(Error::Binding { binding: b, .. }) => assert_eq!(b, binding),
        other => panic!("{binding}: {other:?}"),
    };
    let mut b = pool.buffers();
    b.momentum.offset += 4;
    expect(b, 100, "momentum");
    let mut b = pool.buffers();
    b.fisher.size = wgpu::BufferSize::new(99 * 4);
    expect(b, 100, "fisher");
    let mut b = pool.buffers();
    b.bias_2.size = None;
    b.bias_2.offset = pool.counters.size() + 256;
    expect(b, 100, "bias_2");
    let uniform = device.create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size: 400,
        usage: wgpu::BufferUsages::UNIFORM,
        mapped_at_creation: false,
    });
    let mut b = pool.buffers();
    b.grad = uniform.as_entire_buffer_binding();
    expect(b, 100, "grad");
    assert!(matches!(
        kernels.step(&config, 0, 0, &pool.buffers()),
        Err(Error::TooLarge { .. })
    ));
    assert!(matches!(
        kernels.step(&config.with_lr(f64::NAN), 0, 100, &pool.buffers()),
        Err(Error::Core(_))
    ));
    let after = pool.read();
    assert_eq!(
        (bits(&after.0), bits(&after.1), bits(&after.2), after.3),
        (bits(&before.0), bits(&before.1), bits(&before.2), before.3)
    );
}
