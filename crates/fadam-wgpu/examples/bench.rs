//! FAdam step time and effective bandwidth next to a plain copy kernel on
//! the same adapter.
//!
//! ```text
//! cargo run --release -p fadam-wgpu --example bench -- [--size N] [--steps K] [--gpt2] [--no-gpt2] [--gpt2-scale S]
//! ```
//!
//! On a real GPU the GPT-2 run is on unless `--no-gpt2`; on a CPU adapter
//! (llvmpipe) it is off unless `--gpt2` (full size, ~20 s a step there) or
//! `--gpt2-scale S` (every dimension divided by S, same 148 tensors).
//!
//! Bytes counted: 44 per parameter for every step (pass 1 reads g, θ, m, f;
//! the update reads θ, g, m, f and writes θ, m, f), 8 per element for the
//! copy (read + write).
//! GPU time from timestamp queries around a batch of steps where the
//! adapter has them, else wall time with device polling.

use std::time::Instant;

use fadam_core::FAdamConfig;
use fadam_wgpu::{Arena, Buffer, FAdamGpu, Layout, wgpu};
use wgpu::util::DeviceExt;

struct Timer {
    query: Option<(wgpu::QuerySet, wgpu::Buffer, wgpu::Buffer, f64)>,
}

impl Timer {
    fn new(device: &wgpu::Device, queue: &wgpu::Queue) -> Self {
        let query = device
            .features()
            .contains(wgpu::Features::TIMESTAMP_QUERY)
            .then(|| {
                let set = device.create_query_set(&wgpu::QuerySetDescriptor {
                    label: None,
                    ty: wgpu::QueryType::Timestamp,
                    count: 2,
                });
                let resolve = device.create_buffer(&wgpu::BufferDescriptor {
                    label: None,
                    size: 16,
                    usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                    mapped_at_creation: false,
                });
                let read = device.create_buffer(&wgpu::BufferDescriptor {
                    label: None,
                    size: 16,
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                });
                (set, resolve, read, f64::from(queue.get_timestamp_period()))
            });
        Self { query }
    }

    /// An empty compute pass that writes timestamp `index`.
    fn mark(&self, device: &wgpu::Device, queue: &wgpu::Queue, index: u32) {
        let Some((set, resolve, read, _)) = &self.query else {
            return;
        };
        let mut encoder = device.create_command_encoder(&Default::default());
        encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: None,
            timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                query_set: set,
                beginning_of_pass_write_index: Some(index),
                end_of_pass_write_index: None,
            }),
        });
        if index == 1 {
            encoder.resolve_query_set(set, 0..2, resolve, 0);
            encoder.copy_buffer_to_buffer(resolve, 0, read, 0, 16);
        }
        queue.submit([encoder.finish()]);
    }

    /// Seconds between the marks, if timestamps are available.
    fn elapsed(&self, device: &wgpu::Device) -> Option<f64> {
        let (_, _, read, period) = self.query.as_ref()?;
        read.map_async(wgpu::MapMode::Read, .., |r| r.unwrap());
        device.poll(wgpu::PollType::wait_indefinitely()).unwrap();
        let t: [u64; 2] = bytemuck::pod_read_unaligned(&read.get_mapped_range(..).unwrap()[..16]);
        read.unmap();
        Some(t[1].saturating_sub(t[0]) as f64 * period * 1e-9)
    }
}

/// Median-free simple timing: `reps` runs of `body` after a warm-up;
/// returns seconds per run (GPU timestamps if available) and the source.
fn time(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    timer: &Timer,
    reps: usize,
    mut body: impl FnMut(),
) -> (f64, &'static str) {
    body();
    device.poll(wgpu::PollType::wait_indefinitely()).unwrap();
    timer.mark(device, queue, 0);
    let start = Instant::now();
    for _ in 0..reps {
        body();
    }
    timer.mark(device, queue, 1);
    device.poll(wgpu::PollType::wait_indefinitely()).unwrap();
    let wall = start.elapsed().as_secs_f64() / reps as f64;
    match timer.elapsed(device) {
        Some(t) if t > 0.0 => (t / reps as f64, "timestamps"),
        _ => (wall, "wall"),
    }
}

/// `n` values of the benchmarks' data.
fn data(n: u64) -> Vec<f32> {
    (0..n).map(|i| ((i % 1013) as f32 - 506.0) * 1e-3).collect()
}

fn storage(device: &wgpu::Device, n: u64) -> wgpu::Buffer {
    device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: None,
        contents: bytemuck::cast_slice(&data(n)),
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
    })
}

/// A streaming copy of `n` elements, in windows of the device's binding size.
struct Copy {
    pipeline: wgpu::ComputePipeline,
    binds: Vec<(wgpu::BindGroup, u32)>,
}

impl Copy {
    fn new(device: &wgpu::Device, n: u64) -> Self {
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("copy"),
            source: wgpu::ShaderSource::Wgsl(include_str!("copy.wgsl").into()),
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some("copy"),
            layout: None,
            module: &module,
            entry_point: Some("copy"),
            compilation_options: Default::default(),
            cache: None,
        });
        let src = storage(device, n);
        let dst = storage(device, n);
        let window = device.limits().max_storage_buffer_binding_size / 4 / 4096 * 4096;
        let binds = (0..n.div_ceil(window))
            .map(|w| {
                let (base, len) = (w * window, window.min(n - w * window));
                let bind = |binding, buffer| wgpu::BindGroupEntry {
                    binding,
                    resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer,
                        offset: base * 4,
                        size: std::num::NonZeroU64::new(len * 4),
                    }),
                };
                let group = device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: None,
                    layout: &pipeline.get_bind_group_layout(0),
                    entries: &[bind(0, &src), bind(1, &dst)],
                });
                (group, (len / 4).div_ceil(256) as u32)
            })
            .collect();
        Self { pipeline, binds }
    }

    fn run(&self, device: &wgpu::Device, queue: &wgpu::Queue) {
        let mut encoder = device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            pass.set_pipeline(&self.pipeline);
            for (bind, groups) in &self.binds {
                pass.set_bind_group(0, bind, &[]);
                let x = (*groups).min(32768);
                pass.dispatch_workgroups(x, groups.div_ceil(x), 1);
            }
        }
        queue.submit([encoder.finish()]);
    }
}

fn gpt2_layout(scale: u64) -> Layout {
    let (d, vocab, ctx, layers) = (768 / scale, 50257 / scale, 1024 / scale, 12);
    let mut t = vec![(vocab * d, 0), (ctx * d, 0)];
    for _ in 0..layers {
        t.extend([
            (d, 1),
            (d, 1),
            (d * 3 * d, 0),
            (3 * d, 1),
            (d * d, 0),
            (d, 1),
            (d, 1),
            (d, 1),
            (d * 4 * d, 0),
            (4 * d, 1),
            (4 * d * d, 0),
            (d, 1),
        ]);
    }
    t.extend([(d, 1), (d, 1)]);
    Layout::packed(t).expect("GPT-2's sizes fit")
}

#[allow(clippy::too_many_arguments)]
fn bench_model(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    timer: &Timer,
    name: &str,
    layout: Layout,
    config: FAdamConfig,
    bytes_per_param: f64,
    steps: usize,
) {
    let n = layout.arena_len();
    let tensors = layout.tensors().len();
    let groups = [config, config.with_weight_decay(0.0)];
    let mut opt = match FAdamGpu::new(device, queue, layout, &groups) {
        Ok(o) => o,
        Err(e) => {
            println!("{name}: skipped: {e}");
            return;
        }
    };
    let params = opt.create_buffer_init(Arena::Params, &data(n)).unwrap();
    let grads = opt
        .create_buffer_init(Arena::Other(Buffer::Gradient), &data(n))
        .unwrap();
    let (t, src) = time(device, queue, timer, steps, || {
        opt.step(&params, &grads).unwrap();
    });
    let reports = opt.wait().unwrap();
    assert!(reports.iter().all(|r| r.skipped.is_none()));
    let gbs = bytes_per_param * n as f64 / t / 1e9;
    println!(
        "{name}: {n} params, {tensors} tensors, {} windows, {} dispatches/step\n  step {:.3} ms ({:.2} ns/param), {gbs:.1} GB/s at {bytes_per_param} B/param [{src}]",
        opt.windows(),
        opt.dispatches_per_step(),
        t * 1e3,
        t * 1e9 / n as f64,
    );
    drop((opt, params, grads));
    let copy = Copy::new(device, n);
    let (tc, _) = time(device, queue, timer, steps, || copy.run(device, queue));
    let copy_gbs = 8.0 * n as f64 / tc / 1e9;
    println!(
        "  copy {:.3} ms, {copy_gbs:.1} GB/s (8 B/elem) -> step at {:.0}% of the copy rate",
        tc * 1e3,
        100.0 * gbs / copy_gbs
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    let (device, queue, info) = fadam_wgpu::request_device().expect("a wgpu adapter");
    let cpu = info.device_type == wgpu::DeviceType::Cpu;
    let size = arg("--size").unwrap_or(if cpu { 1 << 20 } else { 1 << 27 });
    let steps = arg("--steps").unwrap_or(if cpu { 5 } else { 50 }) as usize;
    let timer = Timer::new(&device, &queue);
    println!(
        "adapter: {} ({:?}, {:?}, driver {} {}), timestamps: {}",
        info.name,
        info.device_type,
        info.backend,
        info.driver,
        info.driver_info,
        timer.query.is_some()
    );
    let flat = Layout::packed([(size, 0)]).expect("--size fits an arena");
    bench_model(
        &device,
        &queue,
        &timer,
        "flat FAdam",
        flat.clone(),
        FAdamConfig::new(),
        44.0,
        steps,
    );
    bench_model(
        &device,
        &queue,
        &timer,
        "flat Adam",
        flat,
        FAdamConfig::adam(),
        44.0,
        steps,
    );
    let want_gpt2 = if cpu {
        args.iter().any(|a| a == "--gpt2")
    } else {
        !args.iter().any(|a| a == "--no-gpt2")
    };
    let scale = arg("--gpt2-scale").unwrap_or(1).max(1);
    if want_gpt2 || (cpu && arg("--gpt2-scale").is_some()) {
        let layout = gpt2_layout(scale);
        let name = if scale == 1 {
            "GPT-2 small FAdam".to_string()
        } else {
            format!("GPT-2 small / {scale} per dim FAdam")
        };
        bench_model(
            &device,
            &queue,
            &timer,
            &name,
            layout,
            FAdamConfig::new(),
            44.0,
            steps,
        );
    } else {
        println!(
            "GPT-2 small: skipped on a CPU adapter (pass --gpt2, or --gpt2-scale S for dims / S)"
        );
    }
}
