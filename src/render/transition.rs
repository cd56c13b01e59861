//! Mixing two scene frames during a transition. Both frames are opaque and full-canvas;
//! `progress` runs from 0 (all outgoing) to 1 (all incoming), already eased.

use tiny_skia::Pixmap;

use crate::movie::color::Color;
use crate::movie::format::{Direction, TransitionKind};
use crate::movie::timeline::PlacedTransition;

pub(super) fn mix(
    outgoing: Pixmap,
    incoming: Pixmap,
    transition: PlacedTransition,
    progress: f32,
    background: Color,
) -> Pixmap {
    let progress = progress.clamp(0.0, 1.0);
    match transition.kind {
        TransitionKind::Cut => incoming,
        TransitionKind::Crossfade => crossfade(outgoing, &incoming, progress),
        TransitionKind::Wipe => wipe(outgoing, &incoming, transition.direction, progress),
        TransitionKind::Slide => slide(
            &outgoing,
            &incoming,
            transition.direction,
            progress,
            background,
        ),
    }
}

fn crossfade(mut out: Pixmap, incoming: &Pixmap, progress: f32) -> Pixmap {
    let weight = (progress * 256.0).round() as u32;
    for (a, b) in out.data_mut().iter_mut().zip(incoming.data()) {
        *a = ((u32::from(*a) * (256 - weight) + u32::from(*b) * weight + 128) >> 8) as u8;
    }
    out
}

/// The incoming scene is revealed behind an edge that travels in `direction`.
fn wipe(mut out: Pixmap, incoming: &Pixmap, direction: Direction, progress: f32) -> Pixmap {
    let (w, h) = (out.width() as usize, out.height() as usize);
    let cols = (progress * w as f32).round() as usize;
    let rows = (progress * h as f32).round() as usize;
    let (x_range, y_range) = match direction {
        Direction::Left => (w - cols..w, 0..h),
        Direction::Right => (0..cols, 0..h),
        Direction::Up => (0..w, h - rows..h),
        Direction::Down => (0..w, 0..rows),
    };
    let src = incoming.data();
    let dst = out.data_mut();
    for y in y_range {
        let span = y * w * 4 + x_range.start * 4..y * w * 4 + x_range.end * 4;
        dst[span.clone()].copy_from_slice(&src[span]);
    }
    out
}

/// The incoming scene pushes the outgoing one out of the canvas.
fn slide(
    outgoing: &Pixmap,
    incoming: &Pixmap,
    direction: Direction,
    progress: f32,
    background: Color,
) -> Pixmap {
    let (w, h) = (outgoing.width() as i32, outgoing.height() as i32);
    let (dx, dy) = match direction {
        Direction::Left => (-(progress * w as f32).round() as i32, 0),
        Direction::Right => ((progress * w as f32).round() as i32, 0),
        Direction::Up => (0, -(progress * h as f32).round() as i32),
        Direction::Down => (0, (progress * h as f32).round() as i32),
    };
    let (ix, iy) = match direction {
        Direction::Left => (dx + w, 0),
        Direction::Right => (dx - w, 0),
        Direction::Up => (0, dy + h),
        Direction::Down => (0, dy - h),
    };
    let mut out = outgoing.clone();
    out.fill(background.to_skia());
    paste(&mut out, outgoing, dx, dy);
    paste(&mut out, incoming, ix, iy);
    out
}

/// Copies `src` into `dst` with its top-left corner at (x, y), clipped to `dst`.
fn paste(dst: &mut Pixmap, src: &Pixmap, x: i32, y: i32) {
    let (w, h) = (dst.width() as i32, dst.height() as i32);
    let (x0, x1) = (x.max(0), (x + src.width() as i32).min(w));
    if x0 >= x1 {
        return;
    }
    let src_w = src.width() as usize;
    let src_data = src.data();
    let dst_data = dst.data_mut();
    for row in y.max(0)..(y + src.height() as i32).min(h) {
        let from = ((row - y) as usize * src_w + (x0 - x) as usize) * 4;
        let to = (row as usize * w as usize + x0 as usize) * 4;
        let len = (x1 - x0) as usize * 4;
        dst_data[to..to + len].copy_from_slice(&src_data[from..from + len]);
    }
}
