//! Shared test helpers: the device, data, the CPU reference.

#![allow(dead_code, unreachable_pub)]

use std::sync::OnceLock;

use fadam_core::{FAdamConfig, State, Tensor, step_model};
use fadam_testkit::close::{Floor, assert_close};
use fadam_wgpu::{Arena, ArenaBuffer, Buffer, FAdamGpu, Layout, wgpu};

/// The device shared by the tests of one binary, or `None` (with a printed
/// message) when there is no adapter. Panics instead when
/// `FADAM_REQUIRE_GPU=1`.
pub fn gpu() -> Option<&'static (wgpu::Device, wgpu::Queue)> {
    static GPU: OnceLock<Result<(wgpu::Device, wgpu::Queue), String>> = OnceLock::new();
    let got = GPU.get_or_init(|| {
        fadam_wgpu::request_device()
            .map(|(d, q, info)| {
                eprintln!("fadam-wgpu tests on: {} ({:?})", info.name, info.backend);
                (d, q)
            })
            .map_err(|e| e.to_string())
    });
    match got {
        Ok(g) => Some(g),
        Err(e) => {
            if std::env::var("FADAM_REQUIRE_GPU").as_deref() == Ok("1") {
                panic!("FADAM_REQUIRE_GPU=1 but no wgpu adapter: {e}");
            }
            eprintln!(
                "SKIPPED: no wgpu adapter ({e}); install a Vulkan driver (Mesa llvmpipe: \
                 apt-get install mesa-vulkan-drivers libvulkan1) or set FADAM_REQUIRE_GPU=1 to fail"
            );
            None
        }
    }
}

/// The CPU reference: fadam-core (`f32`) over the same layout.
pub struct Reference {
    pub layout: Layout,
    pub groups: Vec<FAdamConfig>,
    pub params: Vec<f32>,
    pub states: Vec<State<f32>>,
}

impl Reference {
    pub fn new(layout: &Layout, groups: &[FAdamConfig], params: &[f32]) -> Self {
        Self {
            layout: layout.clone(),
            groups: groups.to_vec(),
            params: params.to_vec(),
            states: layout
                .tensors()
                .iter()
                .map(|t| State::new(t.len as usize))
                .collect(),
        }
    }

    /// One step of every tensor; the core's result.
    pub fn step(&mut self, grads: &[f32]) -> Result<(), fadam_core::Error> {
        let mut params: Vec<Vec<f32>> = self
            .layout
            .tensors()
            .iter()
            .map(|t| self.params[t.offset as usize..(t.offset + t.len) as usize].to_vec())
            .collect();
        let specs = self.layout.tensors().to_vec();
        let mut tensors: Vec<Tensor<'_, f32>> = params
            .iter_mut()
            .zip(self.states.iter_mut())
            .zip(&specs)
            .map(|((p, s), t)| {
                let g = &grads[t.offset as usize..(t.offset + t.len) as usize];
                Tensor::new(p, g, s.as_mut()).with_group(t.group)
            })
            .collect();
        let r = step_model(&self.groups, &mut tensors);
        drop(tensors);
        for (p, t) in params.iter().zip(&specs) {
            self.params[t.offset as usize..(t.offset + t.len) as usize].copy_from_slice(p);
        }
        r
    }

    /// Momentum and Fisher in arena layout (zeros in gaps).
    pub fn state_arenas(&self) -> (Vec<f32>, Vec<f32>) {
        let n = self.layout.arena_len() as usize;
        let (mut m, mut f) = (vec![0.0; n], vec![0.0; n]);
        for (s, t) in self.states.iter().zip(self.layout.tensors()) {
            let r = t.offset as usize..(t.offset + t.len) as usize;
            m[r.clone()].copy_from_slice(s.momentum());
            f[r].copy_from_slice(s.fisher());
        }
        (m, f)
    }
}

/// A parameter buffer of `opt` holding `data`.
pub fn params_of(opt: &FAdamGpu, data: &[f32]) -> ArenaBuffer {
    opt.create_buffer_init(Arena::Params, data).unwrap()
}

/// A gradient buffer of `opt` holding `data`.
pub fn grads_of(opt: &FAdamGpu, data: &[f32]) -> ArenaBuffer {
    opt.create_buffer_init(Arena::Other(Buffer::Gradient), data)
        .unwrap()
}

/// Downloads a buffer (blocks).
pub fn read(device: &wgpu::Device, queue: &wgpu::Queue, buffer: &wgpu::Buffer) -> Vec<f32> {
    pollster::block_on(crate::shared::read_async(device, queue, buffer))
}

/// Values below a tenth of the tensor's largest are compared absolutely
/// against that tenth: a few ulps of the largest value.
const NEAR_ZERO: Floor = Floor::Largest(0.1);

/// Steps the GPU (buffer path, no waiting) and the core `steps` times with
/// the gradients `grads(step)`, comparing parameters and state after every
/// step (every `check_every` steps: the GPU runs ahead between checks).
#[allow(clippy::too_many_arguments)]
pub fn run_against_core(
    what: &str,
    opt: &mut fadam_wgpu::FAdamGpu,
    reference: &mut Reference,
    params: &ArenaBuffer,
    steps: usize,
    check_every: usize,
    mut grads: impl FnMut(usize) -> Vec<f32>,
    tol: f64,
) {
    let (device, queue) = gpu().unwrap();
    let mut calls = Vec::new();
    for step in 0..steps {
        let g = grads(step);
        let core = reference.step(&g);
        let gb = grads_of(opt, &g);
        calls.push((opt.step(params, &gb).unwrap(), core));
        if (step + 1) % check_every == 0 || step + 1 == steps {
            let reports = opt.wait().unwrap();
            for (report, (call, core)) in reports.iter().zip(calls.drain(..)) {
                assert_eq!(report.call, call);
                let core = core.map_err(fadam_wgpu::Error::Core);
                assert_eq!(report.result(), core, "{what}: step report");
            }
            let p = read(device, queue, params.buffer());
            let (m, f, _) = opt.read_state().unwrap().into_parts();
            let (rm, rf) = reference.state_arenas();
            let n = rm.len();
            assert_close(
                &format!("{what}: params@{}", step + 1),
                &p[..n],
                &reference.params,
                tol,
                NEAR_ZERO,
            );
            assert_close(
                &format!("{what}: momentum@{}", step + 1),
                &m,
                &rm,
                tol,
                NEAR_ZERO,
            );
            assert_close(
                &format!("{what}: fisher@{}", step + 1),
                &f,
                &rf,
                tol,
                NEAR_ZERO,
            );
        }
    }
}

/// The `tol` of most comparisons with the core (see [`assert_close`]).
pub const TOL: f64 = 1e-5;

/// The bits of each element, to compare exactly (NaN included).
pub fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// The bits of a state's momentum and Fisher diagonal, and its step.
pub fn state_bits(s: &fadam_wgpu::State<f32>) -> (Vec<u32>, Vec<u32>, u64) {
    (bits(s.momentum()), bits(s.fisher()), s.step())
}

/// Whether the parameters and the state hold finite values only.
pub fn all_finite(params: &[f32], s: &fadam_wgpu::State<f32>) -> bool {
    params
        .iter()
        .chain(s.momentum())
        .chain(s.fisher())
        .all(|x| x.is_finite())
}
