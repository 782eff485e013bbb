//! Runs conformance vectors (the format of `tests/golden/README.md`)
//! through fadam-core. Shared by the `conformance` example and the test.

use std::path::Path;

use fadam_core::{FAdamConfig, MomentumMode, State, Tensor, step_model};
use serde_json::Value;

/// The outcome of one case.
pub(crate) struct Outcome {
    pub(crate) name: String,
    pub(crate) max_abs: f64,
    pub(crate) max_rel: f64,
    /// `None` if every value is within tolerance, else why not.
    pub(crate) failure: Option<String>,
}

/// `|a - b| <= TOL · max(1, |b|)`: absolute or relative, whichever is larger.
pub(crate) const TOL: f64 = 1e-5;

fn read_f32(path: &Path) -> Result<Vec<f32>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.len() % 4 != 0 {
        return Err(format!(
            "{}: length {} is not a multiple of 4",
            path.display(),
            bytes.len()
        ));
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

fn num(v: &Value, key: &str) -> Result<f64, String> {
    v.get(key)
        .and_then(Value::as_f64)
        .ok_or_else(|| format!("missing number '{key}'"))
}

fn betas(h: &Value) -> Result<(f64, f64), String> {
    let b = h
        .get("betas")
        .and_then(Value::as_array)
        .ok_or("missing 'betas'")?;
    match b.as_slice() {
        [b1, b2] => Ok((
            b1.as_f64().ok_or("bad beta1")?,
            b2.as_f64().ok_or("bad beta2")?,
        )),
        _ => Err("'betas' must have two entries".into()),
    }
}

/// The fadam-core config that computes a case's reference optimizer.
pub(crate) fn config_for(optimizer: &str, h: &Value) -> Result<FAdamConfig, String> {
    let (b1, b2) = betas(h)?;
    let flag = |k: &str| h.get(k).and_then(Value::as_bool).unwrap_or(false);
    let config = match optimizer {
        "pytorch_optimizer.FAdam" => FAdamConfig::new()
            .with_clip(num(h, "clip")?)
            .with_fisher_power(num(h, "p")?)
            .with_eps2(num(h, "eps_2")?),
        "torch.optim.Adam" | "torch.optim.AdamW" => {
            if flag("amsgrad") {
                return Err("amsgrad is not supported".into());
            }
            let base = if optimizer.ends_with('W') || flag("decoupled_weight_decay") {
                FAdamConfig::adamw()
            } else {
                FAdamConfig::adam()
            };
            base.with_maximize(flag("maximize"))
        }
        other => return Err(format!("unknown optimizer '{other}'")),
    };
    Ok(config
        .with_lr(num(h, "lr")?)
        .with_betas(b1, b2)
        .with_eps(num(h, "eps")?)
        .with_weight_decay(num(h, "weight_decay")?))
}

fn compare(actual: &[f32], expected: &[f32], out: &mut Outcome, what: &str) {
    if actual.len() != expected.len() {
        out.failure = Some(format!(
            "{what}: {} values, expected {}",
            actual.len(),
            expected.len()
        ));
        return;
    }
    for (i, (&a, &e)) in actual.iter().zip(expected).enumerate() {
        let (a, e) = (f64::from(a), f64::from(e));
        let abs = (a - e).abs();
        let rel = abs / e.abs().max(f64::MIN_POSITIVE);
        out.max_abs = out.max_abs.max(abs);
        out.max_rel = out.max_rel.max(if e == 0.0 { abs } else { rel });
        // NaN fails: only a comparison that holds passes.
        let within = abs <= TOL * e.abs().max(1.0);
        if !within && out.failure.is_none() {
            out.failure = Some(format!("{what}[{i}] = {a:e}, expected {e:e}"));
        }
    }
}

/// Runs one case of a manifest.
pub(crate) fn run_case(dir: &Path, case: &Value) -> Outcome {
    let name = case
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("<unnamed>")
        .to_string();
    let mut out = Outcome {
        name,
        max_abs: 0.0,
        max_rel: 0.0,
        failure: None,
    };
    if let Err(e) = run_case_inner(dir, case, &mut out) {
        out.failure = Some(e);
    }
    out
}

fn run_case_inner(dir: &Path, case: &Value, out: &mut Outcome) -> Result<(), String> {
    let optimizer = case
        .get("optimizer")
        .and_then(Value::as_str)
        .ok_or("missing 'optimizer'")?;
    let h = case
        .get("hyperparameters")
        .ok_or("missing 'hyperparameters'")?;
    let config = config_for(optimizer, h)?;
    if case
        .get("dtype")
        .and_then(Value::as_str)
        .is_some_and(|d| d != "float32")
    {
        return Err("only float32 cases are supported".into());
    }
    let sizes: Vec<usize> = case
        .get("shapes")
        .and_then(Value::as_array)
        .ok_or("missing 'shapes'")?
        .iter()
        .map(|s| {
            s.as_array()
                .map(|dims| {
                    dims.iter()
                        .map(|d| d.as_u64().unwrap_or(0) as usize)
                        .product()
                })
                .ok_or("a shape must be an array")
        })
        .collect::<Result<_, _>>()?;
    let numel: usize = sizes.iter().sum();
    let file = |role: &str| -> Result<Vec<f32>, String> {
        let name = case
            .get("files")
            .and_then(|f| f.get(role))
            .and_then(Value::as_str)
            .ok_or_else(|| format!("missing file '{role}'"))?;
        read_f32(&dir.join(name))
    };
    let mut params = file("init")?;
    let (grads, expected) = (file("grads")?, file("params")?);
    if params.len() != numel || grads.len() % numel.max(1) != 0 || grads.len() != expected.len() {
        return Err("file sizes do not match 'shapes'".into());
    }
    let steps = grads.len() / numel.max(1);
    let mut states: Vec<State<f32>> = sizes.iter().map(|&n| State::new(n)).collect();
    for t in 0..steps {
        let g = &grads[t * numel..(t + 1) * numel];
        let mut tensors = Vec::with_capacity(sizes.len());
        let (mut p_rest, mut g_rest) = (&mut params[..], g);
        for (state, &n) in states.iter_mut().zip(&sizes) {
            let (p, pr) = p_rest.split_at_mut(n);
            let (gt, gr) = g_rest.split_at(n);
            (p_rest, g_rest) = (pr, gr);
            tensors.push(Tensor::new(p, gt, state.as_mut()));
        }
        step_model(&[config], &mut tensors).map_err(|e| format!("step {}: {e}", t + 1))?;
        drop(tensors);
        compare(
            &params,
            &expected[t * numel..(t + 1) * numel],
            out,
            &format!("params@{}", t + 1),
        );
    }
    let concat =
        |f: fn(&State<f32>) -> &[f32]| states.iter().flat_map(f).copied().collect::<Vec<_>>();
    let momentum = concat(|s| &s.momentum);
    let mut fisher = concat(|s| &s.fisher);
    if config.momentum == MomentumMode::Adam {
        // torch keeps v; the core keeps the bias-corrected v̂ = v / (1 - β2^t).
        let correction = 1.0 - config.beta2.powi(steps as i32);
        fisher
            .iter_mut()
            .for_each(|f| *f = (f64::from(*f) * correction) as f32);
    }
    compare(&momentum, &file("momentum")?, out, "momentum");
    compare(&fisher, &file("fim")?, out, "fisher");
    Ok(())
}

/// Runs every case of `dir/manifest.json`.
pub(crate) fn run_dir(dir: &Path) -> Result<Vec<Outcome>, String> {
    let path = dir.join("manifest.json");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let manifest: Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let cases = manifest
        .get("cases")
        .and_then(Value::as_array)
        .ok_or("manifest has no 'cases'")?;
    Ok(cases.iter().map(|c| run_case(dir, c)).collect())
}
