//! The PyTorch conformance vectors (the format of
//! `crates/fadam-core/tests/golden/README.md`): loading a manifest's cases
//! and the criterion they are checked with. Each implementation runs the
//! loaded cases its own way (fadam-core's `conformance` example, the GPU
//! tests) and compares with [`compare`].

use std::path::{Path, PathBuf};

use fadam_core::{FAdamConfig, MomentumMode};
use serde_json::Value;

/// `|a - b| <= TOL · max(1, |b|)`: absolute or relative, whichever is larger.
pub const TOL: f64 = 1e-5;

/// The repository's vectors: `crates/fadam-core/tests/golden`.
pub fn repository_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fadam-core/tests/golden")
}

/// The reference's internals of one tensor at one step, in `f64`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Diagnostics {
    /// RMS of the gradient.
    pub rms_grad: f64,
    /// The epsilon added to the denominator.
    pub eps_added: f64,
    /// The natural gradient's clip divisor.
    pub grad_clip_divisor: f64,
    /// The weight-decay term's clip divisor.
    pub wd_clip_divisor: f64,
}

/// One case: the configuration, the tensors' sizes, and the data, all
/// tensors concatenated in manifest order.
#[derive(Clone, Debug)]
pub struct Case {
    /// The case's name.
    pub name: String,
    /// The fadam-core configuration that computes the reference optimizer.
    pub config: FAdamConfig,
    /// Elements of each tensor.
    pub sizes: Vec<usize>,
    /// Optimizer steps recorded.
    pub steps: usize,
    /// Initial parameters.
    pub init: Vec<f32>,
    /// The gradients, `steps` blocks of [`numel`](Case::numel).
    pub grads: Vec<f32>,
    /// The parameters after each step, `steps` blocks.
    pub params: Vec<f32>,
    /// The final momentum.
    pub momentum: Vec<f32>,
    /// The final Fisher diagonal as the reference keeps it (torch's raw
    /// `v` for Adam; see [`Case::stored_fisher`]).
    pub fisher: Vec<f32>,
    /// Per step, per tensor internals, where the manifest records them.
    pub diagnostics: Vec<Vec<Diagnostics>>,
}

impl Case {
    /// Elements of all tensors together.
    pub fn numel(&self) -> usize {
        self.sizes.iter().sum()
    }

    /// The gradients of step `t` (from 0).
    pub fn grads_at(&self, t: usize) -> &[f32] {
        let n = self.numel();
        &self.grads[t * n..(t + 1) * n]
    }

    /// The expected parameters after step `t` (from 0).
    pub fn params_at(&self, t: usize) -> &[f32] {
        let n = self.numel();
        &self.params[t * n..(t + 1) * n]
    }

    /// A final Fisher diagonal as fadam-core keeps it, converted to the
    /// reference's: torch's Adam keeps `v`, the core the bias-corrected
    /// `v̂ = v / (1 - β2^t)`.
    pub fn stored_fisher(&self, fisher: &[f32]) -> Vec<f32> {
        if self.config.momentum != MomentumMode::Adam {
            return fisher.to_vec();
        }
        let correction = 1.0 - self.config.beta2.powi(self.steps as i32);
        fisher
            .iter()
            .map(|&f| (f64::from(f) * correction) as f32)
            .collect()
    }
}

/// A case that was read, or the name of one that could not be and why.
pub type Loaded = Result<Case, (String, String)>;

/// Reads `dir/manifest.json` and every case it lists. The outer error is a
/// manifest that cannot be read; a case that cannot be is an inner error,
/// so that the others still run.
pub fn load_dir(dir: &Path) -> Result<Vec<Loaded>, String> {
    let path = dir.join("manifest.json");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let manifest: Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let cases = manifest
        .get("cases")
        .and_then(Value::as_array)
        .ok_or("manifest has no 'cases'")?;
    Ok(cases
        .iter()
        .map(|case| {
            let name = case
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("<unnamed>")
                .to_string();
            load_case(dir, &name, case).map_err(|why| (name, why))
        })
        .collect())
}

fn load_case(dir: &Path, name: &str, case: &Value) -> Result<Case, String> {
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
    let init = file("init")?;
    let (grads, params) = (file("grads")?, file("params")?);
    if init.len() != numel || grads.len() % numel.max(1) != 0 || grads.len() != params.len() {
        return Err("file sizes do not match 'shapes'".into());
    }
    let diagnostics = match case.get("per_step_diagnostics_f64") {
        None => Vec::new(),
        Some(d) => diagnostics(d, sizes.len())?,
    };
    Ok(Case {
        name: name.to_string(),
        config,
        steps: grads.len() / numel.max(1),
        sizes,
        init,
        grads,
        params,
        momentum: file("momentum")?,
        fisher: file("fim")?,
        diagnostics,
    })
}

fn diagnostics(d: &Value, tensors: usize) -> Result<Vec<Vec<Diagnostics>>, String> {
    let bad = || "bad 'per_step_diagnostics_f64'".to_string();
    d.as_array()
        .ok_or_else(bad)?
        .iter()
        .map(|step| {
            let step = step
                .as_array()
                .filter(|s| s.len() == tensors)
                .ok_or_else(bad)?;
            step.iter()
                .map(|t| {
                    Ok(Diagnostics {
                        rms_grad: num(t, "rms_grad")?,
                        eps_added: num(t, "eps_added")?,
                        grad_clip_divisor: num(t, "grad_clip_divisor")?,
                        wd_clip_divisor: num(t, "wd_clip_divisor")?,
                    })
                })
                .collect()
        })
        .collect()
}

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
///
/// ```
/// let h = serde_json::json!({"lr": 1e-3, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.01});
/// let c = fadam_testkit::golden::config_for("torch.optim.AdamW", &h).unwrap();
/// assert_eq!(c, fadam_core::FAdamConfig::adamw().with_lr(1e-3).with_eps(1e-8).with_weight_decay(0.01));
/// assert!(fadam_testkit::golden::config_for("SGD", &h).is_err());
/// ```
pub fn config_for(optimizer: &str, h: &Value) -> Result<FAdamConfig, String> {
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

/// How one case's values compare with the reference.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// The case's name.
    pub name: String,
    /// The largest absolute difference.
    pub max_abs: f64,
    /// The largest relative difference (absolute where the reference is 0).
    pub max_rel: f64,
    /// `None` if every value is within tolerance, else the first offender.
    pub failure: Option<String>,
}

impl Outcome {
    /// No values compared yet.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            max_abs: 0.0,
            max_rel: 0.0,
            failure: None,
        }
    }
}

/// Compares `actual` with `expected` under [`TOL`], recording the largest
/// differences and the first failure as `what[i]` in `out`.
///
/// ```
/// use fadam_testkit::golden::{Outcome, compare};
/// let mut out = Outcome::new("case");
/// compare(&[1.0, 2.0], &[1.0, 2.0], &mut out, "params");
/// assert!(out.failure.is_none());
/// compare(&[1.0, 2.1], &[1.0, 2.0], &mut out, "params");
/// assert!(out.failure.unwrap().starts_with("params[1] = 2.09"));
/// ```
pub fn compare(actual: &[f32], expected: &[f32], out: &mut Outcome, what: &str) {
    if actual.len() != expected.len() {
        out.failure.get_or_insert(format!(
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
