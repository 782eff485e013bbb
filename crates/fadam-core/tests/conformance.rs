//! The PyTorch conformance vectors of `tests/golden/` (`pytorch-optimizer`
//! 4.1.0 and `torch.optim`; see its README) through the same runner as the
//! `conformance` example.

#[path = "../examples/conformance/golden.rs"]
#[allow(dead_code)]
mod golden;

use std::path::{Path, PathBuf};

use fadam_core::{State, step};
use serde_json::Value;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

#[test]
fn every_golden_case_passes() {
    let outcomes = golden::run_dir(&golden_dir()).unwrap();
    assert_eq!(outcomes.len(), 7);
    for o in &outcomes {
        assert!(o.failure.is_none(), "{}: {:?}", o.name, o.failure);
        assert!(o.max_abs < golden::TOL, "{}: {}", o.name, o.max_abs);
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

fn f32s(path: &Path) -> Vec<f32> {
    std::fs::read(path)
        .unwrap()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

/// The reference's per-step internals (RMS(g), the epsilon branch, both
/// clip divisors) as recorded in the manifest, tensor by tensor.
#[test]
fn step_internals_match_the_recorded_diagnostics() {
    let dir = golden_dir();
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    let mut checked = 0;
    for case in manifest["cases"].as_array().unwrap() {
        let Some(diag) = case
            .get("per_step_diagnostics_f64")
            .and_then(Value::as_array)
        else {
            continue;
        };
        let config = golden::config_for(
            case["optimizer"].as_str().unwrap(),
            &case["hyperparameters"],
        )
        .unwrap();
        let sizes: Vec<usize> = case["shapes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                s.as_array()
                    .unwrap()
                    .iter()
                    .map(|d| d.as_u64().unwrap() as usize)
                    .product()
            })
            .collect();
        let numel: usize = sizes.iter().sum();
        let file = |role: &str| f32s(&dir.join(case["files"][role].as_str().unwrap()));
        let (mut params, grads) = (file("init"), file("grads"));
        let mut states: Vec<State<f32>> = sizes.iter().map(|&n| State::new(n)).collect();
        for (t, per_tensor) in diag.iter().enumerate() {
            let mut offset = 0;
            for (k, (state, &n)) in states.iter_mut().zip(&sizes).enumerate() {
                let range = offset..offset + n;
                offset += n;
                let g = &grads[t * numel..][range.clone()];
                let stats = step(&config, &mut params[range], g, state.as_mut()).unwrap();
                let want = &per_tensor[k];
                let near = |a: f64, b: f64| (a - b).abs() <= 1e-5 * b.abs().max(1e-30);
                let name = case["name"].as_str().unwrap();
                assert!(
                    near(stats.grad_rms, want["rms_grad"].as_f64().unwrap()),
                    "{name} step {t} rms"
                );
                assert!(
                    near(stats.epsilon, want["eps_added"].as_f64().unwrap()),
                    "{name} step {t} eps"
                );
                assert!(
                    near(
                        stats.natgrad_divisor,
                        want["grad_clip_divisor"].as_f64().unwrap()
                    ),
                    "{name} {t}"
                );
                assert!(
                    near(
                        stats.decay_divisor,
                        want["wd_clip_divisor"].as_f64().unwrap()
                    ),
                    "{name} {t}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 5 * 20, "only {checked} steps had diagnostics");
}
