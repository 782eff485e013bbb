//! The PyTorch conformance vectors of `tests/golden/` (`pytorch-optimizer`
//! 4.1.0 and `torch.optim`; see its README) through the same runner as the
//! `conformance` example.

#[path = "../examples/conformance/golden.rs"]
#[allow(dead_code)]
mod golden;

use fadam_core::{State, step};
use fadam_testkit::golden::{TOL, load_dir, repository_dir as golden_dir};

#[test]
fn every_golden_case_passes() {
    let outcomes = golden::run_dir(&golden_dir()).unwrap();
    assert_eq!(outcomes.len(), 7);
    for o in &outcomes {
        assert!(o.failure.is_none(), "{}: {:?}", o.name, o.failure);
        assert!(o.max_abs < TOL, "{}: {}", o.name, o.max_abs);
    }
}

/// The runner must notice a wrong value: perturb one stored parameter by
/// 1e-4 and expect a failure naming it.
#[test]
fn runner_detects_a_perturbed_vector() {
    let src = golden_dir();
    let dir = std::env::temp_dir().join(format!("fadam-golden-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(&src).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
    }
    let target = dir.join("fadam_default_n7.params.bin");
    let mut bytes = std::fs::read(&target).unwrap();
    let i = 4 * 7 * 5 + 8; // step 6, element 2
    let v = f32::from_le_bytes(bytes[i..i + 4].try_into().unwrap()) + 1e-4;
    bytes[i..i + 4].copy_from_slice(&v.to_le_bytes());
    std::fs::write(&target, bytes).unwrap();
    let outcomes = golden::run_dir(&dir).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    let bad: Vec<_> = outcomes.iter().filter(|o| o.failure.is_some()).collect();
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0].name, "fadam_default_n7");
    assert!(
        bad[0].failure.as_ref().unwrap().contains("params@6[2]"),
        "{:?}",
        bad[0].failure
    );
}

/// The reference's per-step internals (RMS(g), the epsilon branch, both
/// clip divisors) as recorded in the manifest, tensor by tensor.
#[test]
fn step_internals_match_the_recorded_diagnostics() {
    let mut checked = 0;
    for loaded in load_dir(&golden_dir()).unwrap() {
        let case = loaded.unwrap();
        let mut params = case.init.clone();
        let mut states: Vec<State<f32>> = case.sizes.iter().map(|&n| State::new(n)).collect();
        for (t, per_tensor) in case.diagnostics.iter().enumerate() {
            let mut offset = 0;
            for (k, (state, &n)) in states.iter_mut().zip(&case.sizes).enumerate() {
                let range = offset..offset + n;
                offset += n;
                let g = &case.grads_at(t)[range.clone()];
                let stats = step(&case.config, &mut params[range], g, state.as_mut()).unwrap();
                let want = &per_tensor[k];
                let near = |a: f64, b: f64| (a - b).abs() <= 1e-5 * b.abs().max(1e-30);
                let name = &case.name;
                assert!(near(stats.grad_rms, want.rms_grad), "{name} step {t} rms");
                assert!(near(stats.epsilon, want.eps_added), "{name} step {t} eps");
                assert!(
                    near(stats.natgrad_divisor, want.grad_clip_divisor),
                    "{name} {t}"
                );
                assert!(
                    near(stats.decay_divisor, want.wd_clip_divisor),
                    "{name} {t}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 5 * 20, "only {checked} steps had diagnostics");
}
