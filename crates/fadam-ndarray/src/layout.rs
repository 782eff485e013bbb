//! Element order: what is contiguous in a state's order goes to the core in
//! place; everything else is gathered into a buffer and scattered back.

use ndarray::{ArrayViewD, ArrayViewMutD};

use crate::{ParamState, StateOrder};

/// Writes the gathered parameters back into their arrays.
pub(crate) fn scatter<A: Copy, S>(
    params: &mut [ArrayViewMutD<'_, A>],
    param_bufs: Vec<Option<Vec<A>>>,
    states: &[ParamState<S>],
) {
    for ((p, pbuf), s) in params.iter_mut().zip(param_bufs).zip(states) {
        if let Some(buf) = pbuf {
            let mut view = oriented_mut(p.view_mut(), s.order());
            for (dst, src) in view.iter_mut().zip(buf) {
                *dst = src;
            }
        }
    }
}

/// A copy of `view` in `order` if it is not contiguous in that order.
pub(crate) fn gather<A: Copy>(view: ArrayViewD<'_, A>, order: StateOrder) -> Option<Vec<A>> {
    let view = oriented(view, order);
    (!view.is_standard_layout()).then(|| view.iter().copied().collect())
}

/// `view` with its axes arranged so that logical row-major order is `order`.
pub(crate) fn oriented<A>(view: ArrayViewD<'_, A>, order: StateOrder) -> ArrayViewD<'_, A> {
    match order {
        StateOrder::RowMajor => view,
        StateOrder::ColumnMajor => view.reversed_axes(),
    }
}

pub(crate) fn oriented_mut<A>(
    view: ArrayViewMutD<'_, A>,
    order: StateOrder,
) -> ArrayViewMutD<'_, A> {
    match order {
        StateOrder::RowMajor => view,
        StateOrder::ColumnMajor => view.reversed_axes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array3, ShapeBuilder, s};

    /// Contiguous parameters in their state's order go to the core in place;
    /// everything else is gathered.
    #[test]
    fn only_what_is_not_contiguous_in_order_is_gathered() {
        let c = Array3::<f32>::zeros((2, 3, 4)).into_dyn();
        let f = Array3::<f32>::zeros((2, 3, 4).f()).into_dyn();
        let (row, col) = (StateOrder::RowMajor, StateOrder::ColumnMajor);
        assert!(gather(c.view(), row).is_none());
        assert!(gather(f.view(), col).is_none());
        assert!(gather(c.t(), col).is_none());
        assert!(gather(c.view(), col).is_some());
        assert!(gather(f.view(), row).is_some());
        assert!(gather(c.slice(s![.., .., ..;2]).into_dyn(), row).is_some());
        assert!(gather(c.slice(s![.., .., ..;-1]).into_dyn(), row).is_some());
        let permuted = c.view().permuted_axes(vec![1, 0, 2]);
        assert_eq!(StateOrder::for_layout(&permuted), row);
        assert_eq!(
            gather(permuted, row).unwrap(),
            c.view()
                .permuted_axes(vec![1, 0, 2])
                .iter()
                .copied()
                .collect::<Vec<_>>()
        );
    }
}
