//! Encoding a step: the windows' bind groups and the dispatches.

use super::FAdamGpu;
use crate::limits::{ELEM_BYTES, grid};
use crate::pipelines::bind_group;

/// The windows' bind groups for one pair of parameter and gradient
/// buffers (remade when the user passes others).
pub(super) struct WindowBinds {
    params: wgpu::Buffer,
    grads: wgpu::Buffer,
    groups: Vec<wgpu::BindGroup>,
}

impl FAdamGpu {
    /// Makes the windows' bind groups for `params` and `grads` unless they
    /// are the ones bound.
    pub(super) fn bind_windows(&mut self, params: &wgpu::Buffer, grads: &wgpu::Buffer) {
        if let Some(b) = &self.window_binds {
            if &b.params == params && &b.grads == grads {
                return;
            }
        }
        let groups = self
            .plan
            .windows
            .iter()
            .enumerate()
            .map(|(slot, w)| {
                let size = wgpu::BufferSize::new(w.len * ELEM_BYTES);
                let bind = |buffer| {
                    wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer,
                        offset: w.base * ELEM_BYTES,
                        size,
                    })
                };
                let arenas = [
                    bind(params),
                    bind(grads),
                    bind(&self.momentum),
                    bind(&self.fisher),
                ];
                bind_group(
                    &self.device,
                    &self.bind_group_layout,
                    arenas,
                    &self.buffers,
                    slot,
                )
            })
            .collect();
        self.window_binds = Some(WindowBinds {
            params: params.clone(),
            grads: grads.clone(),
            groups,
        });
    }

    /// The step's dispatches: per window the reductions and the update, the
    /// per-tensor folds between them, and the finish.
    pub(super) fn encode_passes(&self, encoder: &mut wgpu::CommandEncoder) {
        let binds = &self
            .window_binds
            .as_ref()
            .expect("bound before encoding")
            .groups;
        let p = &self.pipelines;
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("fadam step"),
            timestamp_writes: None,
        });
        let windows = |pass: &mut wgpu::ComputePass<'_>, pipeline: &wgpu::ComputePipeline| {
            pass.set_pipeline(pipeline);
            for (w, bind) in self.plan.windows.iter().zip(binds) {
                pass.set_bind_group(0, bind, &[]);
                let (x, y) = grid(w.num_chunks);
                pass.dispatch_workgroups(x, y, 1);
            }
        };
        let tensors = self.layout.tensors().len() as u32;
        let fold = |pass: &mut wgpu::ComputePass<'_>, pipeline: &wgpu::ComputePipeline| {
            if tensors > 0 {
                pass.set_pipeline(pipeline);
                pass.set_bind_group(0, &self.per_tensor_bind, &[]);
                let (x, y) = grid(tensors);
                pass.dispatch_workgroups(x, y, 1);
            }
        };
        windows(&mut pass, &p.reduce_fused);
        fold(&mut pass, &p.fold_fused);
        windows(&mut pass, &p.reduce_redo);
        fold(&mut pass, &p.fold_redo);
        windows(&mut pass, &p.update);
        pass.set_pipeline(&p.finish);
        pass.set_bind_group(0, &self.per_tensor_bind, &[]);
        pass.dispatch_workgroups(1, 1, 1);
    }
}
