//! The GPU conformance tests in a browser, on WebGPU (wasm32 only; run by
//! `.ci/web.sh` in headless Chromium on its SwiftShader adapter): the
//! golden vectors, a multi-tensor model stepped in several windows against
//! `fadam-core` compiled to wasm in the same page, a refused step on a NaN
//! gradient, and the browser's own limits. Every test uses the async API
//! (nothing may block in a browser), within the native tests' tolerance.

#![cfg(target_arch = "wasm32")]

mod shared;

use fadam_core::{FAdamConfig, MomentumMode, State, Tensor, step_model};
use fadam_testkit::close::{Floor, assert_close};
use fadam_testkit::golden::load;
use fadam_testkit::rng::{Draw, seeded};
use fadam_wgpu::{Arena, Buffer, Error, FAdamGpu, Layout, Options, SkipReason, wgpu};
use shared::{golden_case, read_async as read};
use wasm_bindgen_test::{console_log, wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

/// The native tests' tolerance against the core and its floor for values
/// near zero (see `tests/common`).
const TOL: f64 = 1e-5;
const NEAR_ZERO: Floor = Floor::Largest(0.1);

/// `n` seeded values in [-1, 1).
fn values(seed: u64, n: usize) -> Vec<f32> {
    seeded(seed).vec_f32(n, 1.0)
}

async fn gpu() -> (wgpu::Device, wgpu::Queue) {
    let (device, queue, info) = fadam_wgpu::request_device_async()
        .await
        .expect("the browser has a WebGPU adapter");
    assert_eq!(info.backend, wgpu::Backend::BrowserWebGpu);
    console_log!("fadam-wgpu browser tests on: {:?}", info);
    (device, queue)
}

/// The golden files, embedded (a browser has no file system). The test
/// checks that this list (sorted) is the manifest's.
macro_rules! golden {
    ($($case:literal),* $(,)?) => {
        const CASES: &[&str] = &[$($case),*];
        fn golden_file(file: &str) -> &'static [u8] {
            match file {
                $(
                    concat!($case, ".init.bin") => include_bytes!(concat!("../../fadam-core/tests/golden/", $case, ".init.bin")),
                    concat!($case, ".grads.bin") => include_bytes!(concat!("../../fadam-core/tests/golden/", $case, ".grads.bin")),
                    concat!($case, ".params.bin") => include_bytes!(concat!("../../fadam-core/tests/golden/", $case, ".params.bin")),
                    concat!($case, ".momentum.bin") => include_bytes!(concat!("../../fadam-core/tests/golden/", $case, ".momentum.bin")),
                    concat!($case, ".fim.bin") => include_bytes!(concat!("../../fadam-core/tests/golden/", $case, ".fim.bin")),
                )*
                other => panic!("no embedded golden file {other}"),
            }
        }
    };
}
golden!(
    "adam_default_n1000",
    "adamw_default_n1000",
    "fadam_default_n1000",
    "fadam_default_n7",
    "fadam_gscale1e-6_n1000",
    "fadam_multi_tensor",
    "fadam_zero_grad_step1_n100",
);
const MANIFEST: &str = include_str!("../../fadam-core/tests/golden/manifest.json");

/// fadam-core's golden vectors (PyTorch references), every case, through
/// `step_slices_async` and `read_state_async` (the native test's runner).
#[wasm_bindgen_test]
async fn golden_vectors() {
    let (device, queue) = gpu().await;
    let cases = load(MANIFEST, |file| Ok(golden_file(file).to_vec())).unwrap();
    let mut names = Vec::new();
    for case in cases {
        let case = case.unwrap();
        let out = golden_case(&device, &queue, &case).await;
        assert!(out.failure.is_none(), "{}: {:?}", out.name, out.failure);
        names.push(case.name);
    }
    names.sort_unstable();
    assert_eq!(names, CASES, "the embedded cases are the manifest's");
}

/// fadam-core over the same layout: one state per tensor.
struct Reference {
    layout: Layout,
    groups: Vec<FAdamConfig>,
    params: Vec<f32>,
    states: Vec<State<f32>>,
}

impl Reference {
    fn step(&mut self, grads: &[f32]) -> Result<(), fadam_core::Error> {
        let mut rest = self.params.as_mut_slice();
        let mut at = 0;
        let mut tensors = Vec::new();
        for (t, s) in self.layout.tensors().iter().zip(&mut self.states) {
            let (_, tail) = rest.split_at_mut((t.offset - at) as usize);
            let (p, tail) = tail.split_at_mut(t.len as usize);
            rest = tail;
            at = t.offset + t.len;
            let g = &grads[t.offset as usize..at as usize];
            tensors.push(Tensor::new(p, g, s.as_mut()).with_group(t.group));
        }
        step_model(&self.groups, &mut tensors)
    }

    fn arena(&self, part: impl Fn(&State<f32>) -> &[f32]) -> Vec<f32> {
        let mut out = vec![0.0; self.layout.arena_len() as usize];
        for (t, s) in self.layout.tensors().iter().zip(&self.states) {
            out[t.offset as usize..(t.offset + t.len) as usize].copy_from_slice(part(s));
        }
        out
    }
}

/// A model of several tensors in two groups (FAdam with decay, Adam-style
/// momentum without), bound in several windows, stepped on the GPU buffer
/// path ahead of the host and checked against the core every few steps; a
/// NaN gradient midway skips a step on both.
#[wasm_bindgen_test]
async fn multi_tensor_model_in_windows_matches_core() {
    let (device, queue) = gpu().await;
    let groups = [
        FAdamConfig::new().with_lr(3e-3),
        FAdamConfig::new()
            .with_momentum(MomentumMode::Adam)
            .with_weight_decay(0.0),
    ];
    let layout = Layout::packed([(9000, 0), (64, 1), (3000, 0), (10, 1), (5000, 0)]).unwrap();
    let n = layout.arena_len() as usize;
    let p0 = values(1, n);
    let mut reference = Reference {
        layout: layout.clone(),
        groups: groups.to_vec(),
        params: p0.clone(),
        states: layout
            .tensors()
            .iter()
            .map(|t| State::new(t.len as usize))
            .collect(),
    };
    let options = Options {
        max_binding_bytes: Some(4 * 4096 * 2),
        max_pending_steps: 3,
    };
    let mut opt = FAdamGpu::with_options(&device, &queue, layout, &groups, options).unwrap();
    assert!(opt.windows() >= 3, "{} windows", opt.windows());
    let params = opt.create_buffer_init(Arena::Params, &p0).unwrap();
    let mut expected = Vec::new();
    for step in 0..12u64 {
        let mut g = values(100 + step, n);
        if step == 5 {
            g[9070] = f32::NAN; // tensor 2
        }
        expected.push(reference.step(&g).map_err(Error::Core));
        let grads = opt
            .create_buffer_init(Arena::Other(Buffer::Gradient), &g)
            .unwrap();
        opt.step_async(&params, &grads).await.unwrap();
        if step % 4 == 3 {
            let reports = opt.wait_async().await.unwrap();
            let results: Vec<_> = reports.iter().map(|r| r.result()).collect();
            assert_eq!(results, std::mem::take(&mut expected));
            let state = opt.read_state_async().await.unwrap();
            assert_close(
                "params",
                &read(&device, &queue, params.buffer()).await,
                &reference.params,
                TOL,
                NEAR_ZERO,
            );
            assert_close(
                "momentum",
                state.momentum(),
                &reference.arena(State::momentum),
                TOL,
                NEAR_ZERO,
            );
            assert_close(
                "fisher",
                state.fisher(),
                &reference.arena(State::fisher),
                TOL,
                NEAR_ZERO,
            );
        }
    }
    assert_eq!(opt.reported_step(), 11);
}

/// A NaN gradient: the step is refused (`step_slices_async` returns the
/// core's error) and parameters and state keep their bits.
#[wasm_bindgen_test]
async fn nan_gradient_is_refused_and_writes_nothing() {
    let (device, queue) = gpu().await;
    let layout = Layout::packed([(500, 0), (70, 0)]).unwrap();
    let mut opt = FAdamGpu::new(&device, &queue, layout, &[FAdamConfig::new()]).unwrap();
    let mut params = values(7, 570);
    opt.step_slices_async(&mut params, &values(8, 570))
        .await
        .unwrap();
    let before = (params.clone(), opt.read_state_async().await.unwrap());
    let mut grads = values(9, 570);
    grads[520] = f32::NAN;
    let refused = opt.step_slices_async(&mut params, &grads).await;
    assert_eq!(
        refused,
        Err(Error::Core(fadam_core::Error::NonFiniteGradient {
            tensor: 1
        }))
    );
    let after = opt.read_state_async().await.unwrap();
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&params), bits(&before.0));
    assert_eq!(bits(after.momentum()), bits(before.1.momentum()));
    assert_eq!(bits(after.fisher()), bits(before.1.fisher()));
    assert_eq!(after.step(), 1);
    // The buffer path reports it without waiting (poll) or awaited.
    let p = opt.create_buffer_init(Arena::Params, &params).unwrap();
    let g = opt
        .create_buffer_init(Arena::Other(Buffer::Gradient), &grads)
        .unwrap();
    let call = opt.step(&p, &g).unwrap();
    let report = opt.wait_async().await.unwrap().pop().unwrap();
    assert_eq!(report.call, call);
    assert_eq!(report.skipped, Some((1, SkipReason::NonFiniteGradient)));
}

/// In a browser `step` never blocks: with its pending steps full it
/// refuses (nothing submitted), `step_async` waits instead; `poll`
/// collects the reports as they land.
#[wasm_bindgen_test]
async fn full_pending_queue_would_block() {
    let (device, queue) = gpu().await;
    let layout = Layout::packed([(100, 0)]).unwrap();
    let options = Options {
        max_pending_steps: 2,
        ..Options::default()
    };
    let mut opt =
        FAdamGpu::with_options(&device, &queue, layout, &[FAdamConfig::new()], options).unwrap();
    let p = opt
        .create_buffer_init(Arena::Params, &values(1, 100))
        .unwrap();
    let g = opt
        .create_buffer_init(Arena::Other(Buffer::Gradient), &values(2, 100))
        .unwrap();
    opt.step(&p, &g).unwrap();
    opt.step(&p, &g).unwrap();
    assert_eq!(opt.step(&p, &g), Err(Error::WouldBlock { pending: 2 }));
    assert_eq!(opt.step_async(&p, &g).await, Ok(2));
    assert_eq!(opt.wait_async().await.unwrap().len(), 3);
    assert_eq!(opt.reported_step(), 3);
    // `poll` never waits: the reports land while the page awaits other work.
    let calls = [opt.step(&p, &g).unwrap(), opt.step(&p, &g).unwrap()];
    let mut reports = opt.poll().unwrap();
    for _ in 0..100 {
        if reports.len() == calls.len() {
            break;
        }
        read(&device, &queue, p.buffer()).await; // yields to the event loop
        reports.extend(opt.poll().unwrap());
    }
    let got: Vec<_> = reports
        .iter()
        .map(|r| (r.call, r.step, r.skipped))
        .collect();
    assert_eq!(got, [(calls[0], 4, None), (calls[1], 5, None)]);
    assert_eq!(opt.pending_steps(), 0);
}

/// The browser's limits: a binding cap below one chunk is the typed
/// `Unsupported`; the adapter's own binding size steps a model whole.
#[wasm_bindgen_test]
async fn browser_limits() {
    let (device, queue) = gpu().await;
    let limits = device.limits();
    console_log!(
        "storage binding {} bytes, workgroup storage {} bytes, timestamps {}",
        limits.max_storage_buffer_binding_size,
        limits.max_compute_workgroup_storage_size,
        device.features().contains(wgpu::Features::TIMESTAMP_QUERY)
    );
    assert!(limits.max_storage_buffer_binding_size >= 128 << 20);
    let layout = Layout::packed([(1 << 20, 0)]).unwrap();
    let opt = FAdamGpu::new(&device, &queue, layout.clone(), &[FAdamConfig::new()]).unwrap();
    assert_eq!(opt.windows(), 1);
    let tiny = Options {
        max_binding_bytes: Some(1024),
        ..Options::default()
    };
    let refused = FAdamGpu::with_options(&device, &queue, layout, &[FAdamConfig::new()], tiny);
    assert!(
        matches!(
            refused,
            Err(Error::Unsupported {
                what: "max_storage_buffer_binding_size",
                ..
            })
        ),
        "{refused:?}"
    );
}
