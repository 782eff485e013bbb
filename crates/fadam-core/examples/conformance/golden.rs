//! Runs conformance vectors (the format of `tests/golden/README.md`, read by
//! `fadam_testkit::golden`) through fadam-core. Shared by the `conformance`
//! example and the test.

use std::path::Path;

use fadam_core::{State, Tensor, step_model};
use fadam_testkit::golden::{Case, Outcome, compare, load_dir};

/// Runs one loaded case: every step of the whole model, then the state.
pub(crate) fn run_case(case: &Case) -> Outcome {
    let mut out = Outcome::new(&case.name);
    if let Err(e) = run_steps(case, &mut out) {
        out.failure = Some(e);
    }
    out
}

fn run_steps(case: &Case, out: &mut Outcome) -> Result<(), String> {
    let mut params = case.init.clone();
    let mut states: Vec<State<f32>> = case.sizes.iter().map(|&n| State::new(n)).collect();
    for t in 0..case.steps {
        let g = case.grads_at(t);
        let mut tensors = Vec::with_capacity(case.sizes.len());
        let (mut p_rest, mut g_rest) = (&mut params[..], g);
        for (state, &n) in states.iter_mut().zip(&case.sizes) {
            let (p, pr) = p_rest.split_at_mut(n);
            let (gt, gr) = g_rest.split_at(n);
            (p_rest, g_rest) = (pr, gr);
            tensors.push(Tensor::new(p, gt, state.as_mut()));
        }
        step_model(&[case.config], &mut tensors).map_err(|e| format!("step {}: {e}", t + 1))?;
        drop(tensors);
        compare(
            &params,
            case.params_at(t),
            out,
            &format!("params@{}", t + 1),
        );
    }
    let concat =
        |f: fn(&State<f32>) -> &[f32]| states.iter().flat_map(f).copied().collect::<Vec<_>>();
    compare(&concat(State::momentum), &case.momentum, out, "momentum");
    let fisher = case.stored_fisher(&concat(State::fisher));
    compare(&fisher, &case.fisher, out, "fisher");
    Ok(())
}

/// Runs every case of `dir/manifest.json`.
pub(crate) fn run_dir(dir: &Path) -> Result<Vec<Outcome>, String> {
    Ok(load_dir(dir)?
        .iter()
        .map(|loaded| match loaded {
            Ok(case) => run_case(case),
            Err((name, why)) => Outcome {
                failure: Some(why.clone()),
                ..Outcome::new(name)
            },
        })
        .collect())
}
