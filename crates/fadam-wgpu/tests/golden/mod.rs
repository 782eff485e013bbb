//! fadam-core's golden vectors (PyTorch references) on the GPU through the
//! async API: shared by the native tests (`gpu.rs`, which block on it) and
//! the browser's (`web.rs`, which await it).

use fadam_testkit::golden::{Case, Outcome, compare};
use fadam_wgpu::{FAdamGpu, Layout, State, wgpu};

/// Steps `case` with `step_slices_async`, comparing the parameters after
/// every step and the final state under the golden criterion.
pub(crate) async fn golden_case(device: &wgpu::Device, queue: &wgpu::Queue, case: &Case) -> Outcome {
    let layout = Layout::packed(case.sizes.iter().map(|&n| (n as u64, 0)));
    let mut params = case.init.clone();
    let mut opt = FAdamGpu::new(device, queue, layout, &[case.config]).unwrap();
    let mut out = Outcome::new(&case.name);
    for t in 0..case.steps {
        opt.step_slices_async(&mut params, case.grads_at(t))
            .await
            .unwrap();
        compare(
            &params,
            case.params_at(t),
            &mut out,
            &format!("params@{}", t + 1),
        );
    }
    let State {
        momentum,
        fisher,
        step,
    } = opt.read_state_async().await.unwrap();
    assert_eq!(step, case.steps as u64);
    compare(&momentum, &case.momentum, &mut out, "momentum");
    compare(
        &case.stored_fisher(&fisher),
        &case.fisher,
        &mut out,
        "fisher",
    );
    out
}
