//! The page's bindings: a [`Trainer`] that JavaScript steps.

use std::cell::RefCell;
use std::rc::Rc;

use fadam_wgpu::FAdamGpu;
use wasm_bindgen::prelude::*;

use crate::model::{self, Digits, PARAMS};

/// One model and its optimizer.
struct Run {
    opt: FAdamGpu,
    params: Vec<f32>,
    grads: Vec<f32>,
}

struct Inner {
    data: Digits,
    runs: Vec<Run>,
}

/// Both runs (FAdam, then Adam) on the browser's WebGPU device.
#[wasm_bindgen]
pub struct Trainer {
    /// `None` while a step runs (JavaScript awaits each step before the
    /// next; an overlapping call is refused).
    inner: Rc<RefCell<Option<Inner>>>,
    adapter: String,
}

fn js_error(e: impl std::fmt::Display) -> JsValue {
    JsError::new(&e.to_string()).into()
}

#[wasm_bindgen]
impl Trainer {
    /// Requests the WebGPU device and makes both optimizers (same start).
    pub async fn create() -> Result<Trainer, JsValue> {
        let (device, queue, info) = fadam_wgpu::request_device_async().await.map_err(js_error)?;
        let mut runs = Vec::new();
        for (_, groups) in crate::optimizers() {
            let opt = FAdamGpu::new(&device, &queue, model::layout().map_err(js_error)?, &groups)
                .map_err(js_error)?;
            runs.push(Run {
                opt,
                params: model::init(1),
                grads: vec![0.0; PARAMS],
            });
        }
        let adapter = match info.driver.is_empty() {
            true => info.name,
            false => format!("{} ({})", info.name, info.driver),
        };
        Ok(Trainer {
            inner: Rc::new(RefCell::new(Some(Inner {
                data: Digits::embedded(),
                runs,
            }))),
            adapter,
        })
    }

    /// The adapter's name, as the browser gives it.
    pub fn adapter(&self) -> String {
        self.adapter.clone()
    }

    /// The optimizers' names, in the order of [`step`](Self::step)'s values.
    pub fn names() -> Vec<String> {
        crate::optimizers()
            .map(|(name, _)| name.to_string())
            .to_vec()
    }

    /// One step of each run: resolves to `[loss, accuracy]` per run
    /// (before the step), FAdam's first.
    pub fn step(&self) -> js_sys::Promise {
        let inner = self.inner.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let mut taken = inner
                .take()
                .ok_or_else(|| js_error("a step is already running"))?;
            let stepped = step_runs(&mut taken).await;
            inner.replace(Some(taken));
            stepped
        })
    }
}

/// One step of each run; `[loss, accuracy]` per run before its step.
async fn step_runs(inner: &mut Inner) -> Result<JsValue, JsValue> {
    let Inner { data, runs } = inner;
    let out = js_sys::Float32Array::new_with_length(2 * runs.len() as u32);
    for (i, run) in runs.iter_mut().enumerate() {
        let (loss, accuracy) = model::loss_and_grad(&run.params, data, &mut run.grads);
        run.opt
            .step_slices_async(&mut run.params, &run.grads)
            .await
            .map_err(js_error)?;
        out.set_index(2 * i as u32, loss);
        out.set_index(2 * i as u32 + 1, accuracy);
    }
    Ok(out.into())
}
