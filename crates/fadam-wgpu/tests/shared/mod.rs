//! What the native tests (through `common`, blocking) and the browser's
//! (`web.rs`, awaiting) share: the download of a buffer, and fadam-core's
//! golden vectors (PyTorch references) on the async API.

// Each test binary uses a part.
#![allow(dead_code)]

use fadam_testkit::golden::{Case, Outcome, compare};
use fadam_wgpu::{FAdamGpu, Layout, wgpu};

/// Downloads a buffer. Natively it blocks in `poll` until the copy is
/// done; in a browser (where `poll` returns at once) it awaits the mapping.
pub(crate) async fn read_async(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    buffer: &wgpu::Buffer,
) -> Vec<f32> {
    let staging = device.create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size: buffer.size(),
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut encoder = device.create_command_encoder(&Default::default());
    encoder.copy_buffer_to_buffer(buffer, 0, &staging, 0, buffer.size());
    queue.submit([encoder.finish()]);
    let (done, mapped) = futures_channel::oneshot::channel();
    staging.map_async(wgpu::MapMode::Read, .., move |r| {
        let _ = done.send(r);
    });
    device.poll(wgpu::PollType::wait_indefinitely()).unwrap();
    mapped.await.unwrap().unwrap();
    let out = bytemuck::pod_collect_to_vec(&staging.get_mapped_range(..).unwrap());
    staging.unmap();
    out
}

/// Steps `case` with `step_slices_async`, comparing the parameters after
/// every step and the final state under the golden criterion.
pub(crate) async fn golden_case(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    case: &Case,
) -> Outcome {
    let layout = Layout::packed(case.sizes.iter().map(|&n| (n as u64, 0))).unwrap();
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
    let (momentum, fisher, step) = opt.read_state_async().await.unwrap().into_parts();
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
