//! libjpeg-turbo (the MozJPEG fork, built from source by `mozjpeg-sys` with the C compiler: no
//! system library, no cmake; SIMD only where `nasm` is installed) for the two things the pure-Rust
//! decoders cannot do:
//!
//! * **lossless orientation**: jpegtran's own transform code (`transupp.c`) rearranges and
//!   transposes the DCT coefficient blocks, so a photo turned upright keeps every coefficient the
//!   camera wrote (no second quantisation);
//! * **reduced-scale decoding**: the scaled inverse DCT (M/8, M = 1..8) produces the preview-sized
//!   image straight from the coefficients, while every block is still entropy-decoded (a damaged
//!   file is still caught).
//!
//! libjpeg reports fatal errors through `error_exit`, which must not return: ours unwinds (no
//! panic hook, `resume_unwind`) to the `catch_unwind` around each call, after which the
//! (de)compressor is destroyed, freeing everything libjpeg allocated. Warnings that mean damaged
//! data (premature end, bad Huffman code, missing restart marker...) are counted and make the
//! call fail as corrupt: libjpeg would otherwise pad with grey and carry on.

#![allow(unsafe_code)]

use std::os::raw::{c_int, c_ulong};
use std::panic::{catch_unwind, AssertUnwindSafe};

use mozjpeg_sys::*;

/// transupp.h's `jpeg_transform_info` as the vendored C code declares it. (mozjpeg-sys 2.2's
/// binding lacks the `drop_*` fields, so its struct is too small for the C code, which writes
/// past it: hence this declaration and the functions below taking it.)
#[repr(C)]
struct TransformInfo {
    transform: JXFORM_CODE,
    perfect: boolean,
    trim: boolean,
    force_grayscale: boolean,
    crop: boolean,
    slow_hflip: boolean,
    crop_width: JDIMENSION,
    crop_width_set: JCROP_CODE,
    crop_height: JDIMENSION,
    crop_height_set: JCROP_CODE,
    crop_xoffset: JDIMENSION,
    crop_xoffset_set: JCROP_CODE,
    crop_yoffset: JDIMENSION,
    crop_yoffset_set: JCROP_CODE,
    drop_ptr: *mut jpeg_decompress_struct,
    drop_coef_arrays: *mut jvirt_barray_ptr,
    num_components: c_int,
    workspace_coef_arrays: *mut jvirt_barray_ptr,
    output_width: JDIMENSION,
    output_height: JDIMENSION,
    x_crop_offset: JDIMENSION,
    y_crop_offset: JDIMENSION,
    drop_width: JDIMENSION,
    drop_height: JDIMENSION,
    i_mcu_sample_width: c_int,
    i_mcu_sample_height: c_int,
}

#[allow(clashing_extern_declarations)]
unsafe extern "C-unwind" {
    #[link_name = "jtransform_request_workspace"]
    fn request_workspace(src: *mut jpeg_decompress_struct, info: *mut TransformInfo) -> boolean;
    #[link_name = "jtransform_adjust_parameters"]
    fn adjust_parameters(
        src: *mut jpeg_decompress_struct,
        dst: *mut jpeg_compress_struct,
        src_coefs: *mut jvirt_barray_ptr,
        info: *mut TransformInfo,
    ) -> *mut jvirt_barray_ptr;
    #[link_name = "jtransform_execute_transform"]
    fn execute_transform(
        src: *mut jpeg_decompress_struct,
        dst: *mut jpeg_compress_struct,
        src_coefs: *mut jvirt_barray_ptr,
        info: *mut TransformInfo,
    );
}

/// The file is damaged (or uses something libjpeg refuses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Damaged;

/// Payload of the unwinding `error_exit`.
struct LibjpegError;

/// Warnings that mean the entropy-coded data is damaged (jerror.h).
fn damaging(code: c_int) -> bool {
    [JWRN_HIT_MARKER, JWRN_HUFF_BAD_CODE, JWRN_JPEG_EOF, JWRN_MUST_RESYNC, JWRN_NOT_SEQUENTIAL, JWRN_BOGUS_PROGRESSION]
        .iter()
        .any(|&c| c as c_int == code)
}

unsafe extern "C-unwind" fn error_exit(_cinfo: &mut jpeg_common_struct) {
    std::panic::resume_unwind(Box::new(LibjpegError));
}

unsafe extern "C-unwind" fn emit_message(cinfo: &mut jpeg_common_struct, level: c_int) {
    if level < 0 {
        // SAFETY: `err` points at the error manager owned by the same boxed state.
        let err = unsafe { &mut *cinfo.err };
        if damaging(err.msg_code) {
            err.num_warnings += 1;
        }
    }
}

unsafe extern "C-unwind" fn output_message(_cinfo: &mut jpeg_common_struct) {}

fn error_mgr() -> Box<jpeg_error_mgr> {
    // SAFETY: a zeroed error manager is what jpeg_std_error expects to fill in.
    let mut e: Box<jpeg_error_mgr> = Box::new(unsafe { std::mem::zeroed() });
    unsafe { jpeg_std_error(&mut e) };
    e.error_exit = Some(error_exit);
    e.emit_message = Some(emit_message);
    e.output_message = Some(output_message);
    e
}

/// libjpeg takes its whole-image coefficient arrays (a 12 MP photo's are 24 MB of luma and 6 MB
/// for each chroma, once for the source and once for the transformed copy) from malloc, and
/// glibc serves blocks that large with mmap and gives them back to the kernel on free: every
/// rotated photo then faulted in, and the kernel zeroed, some 70 MB of fresh pages, a fifth of
/// its intake's CPU time (`bench_intake time`, 2026-12-07: 143 -> 115 ms for a 4032x3024
/// photo). From the first libjpeg call on, blocks up to 64 MiB come from malloc's heap and up to
/// 128 MiB freed at its top stays there for the next photo (glibc's own tunables; process-wide,
/// as glibc has no other). Freed memory stays with the thread's malloc arena: an intake run on
/// one of the server's intake threads reuses it (peak 92 MB for a rotated 12 MP photo, against
/// 88 before); run from a thread outside the rayon pool, whose workers then allocate in their
/// own arenas, the peak was 102 MB.
///
/// In the server, two photos at once (one per intake thread) free more than 128 MiB together, and
/// glibc then gave back everything above its default 128 KiB pad: the next photos faulted their
/// memory in again (`perf` of the API upload benchmark, 2026-12-08: the kernel's page faults,
/// page clearing and `brk` unmapping were about 15% of the intake threads' CPU time). A trim
/// now keeps 128 MiB (the pad), so what the server holds free is bounded as before (about
/// 128 MiB) but a burst no longer empties it.
fn keep_freed_blocks_for_reuse() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        // SAFETY: mallopt only changes thresholds glibc reads on later calls.
        ONCE.call_once(|| unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 64 << 20);
            libc::mallopt(libc::M_TRIM_THRESHOLD, 128 << 20);
            libc::mallopt(libc::M_TOP_PAD, 128 << 20);
        });
    }
}

/// A decompressor reading `bytes`, destroyed on drop.
struct Decompress<'a> {
    d: Box<jpeg_decompress_struct>,
    err: Box<jpeg_error_mgr>,
    created: bool,
    _bytes: &'a [u8],
}

impl<'a> Decompress<'a> {
    /// Creates the decompressor and reads the header (may unwind).
    fn new(bytes: &'a [u8]) -> Self {
        keep_freed_blocks_for_reuse();
        let mut s = Decompress { d: Box::new(unsafe { std::mem::zeroed() }), err: error_mgr(), created: false, _bytes: bytes };
        s.d.common.err = &mut *s.err;
        unsafe {
            jpeg_create_decompress(&mut *s.d);
            s.created = true;
            jpeg_mem_src(&mut s.d, bytes.as_ptr(), bytes.len() as c_ulong);
            jpeg_read_header(&mut s.d, 1);
        }
        s
    }
    fn damaged(&self) -> bool {
        self.err.num_warnings > 0
    }
}

impl Drop for Decompress<'_> {
    fn drop(&mut self) {
        if self.created {
            // SAFETY: created above; destroy is valid in any state, after an error included.
            unsafe { jpeg_destroy_decompress(&mut self.d) };
        }
    }
}

struct Compress {
    c: Box<jpeg_compress_struct>,
    err: Box<jpeg_error_mgr>,
    created: bool,
    out: *mut u8,
    out_len: c_ulong,
}

impl Compress {
    fn new() -> Self {
        keep_freed_blocks_for_reuse();
        let mut s = Compress { c: Box::new(unsafe { std::mem::zeroed() }), err: error_mgr(), created: false, out: std::ptr::null_mut(), out_len: 0 };
        s.c.common.err = &mut *s.err;
        unsafe {
            jpeg_create_compress(&mut *s.c);
            s.created = true;
        }
        s
    }
    /// The encoded bytes written so far to the memory destination.
    fn bytes(&self) -> Vec<u8> {
        if self.out.is_null() {
            return Vec::new();
        }
        // SAFETY: libjpeg's memory destination wrote `out_len` bytes at `out`.
        unsafe { std::slice::from_raw_parts(self.out, self.out_len as usize) }.to_vec()
    }
}

impl Drop for Compress {
    fn drop(&mut self) {
        if self.created {
            unsafe { jpeg_destroy_compress(&mut self.c) };
        }
        if !self.out.is_null() {
            // SAFETY: allocated by libjpeg's memory destination with malloc.
            unsafe { libc::free(self.out.cast()) };
        }
    }
}

/// jpegtran's transform that turns a photo with EXIF orientation `o` upright.
fn transform_for(o: u32) -> Option<JXFORM_CODE> {
    Some(match o {
        2 => JXFORM_CODE_JXFORM_FLIP_H,
        3 => JXFORM_CODE_JXFORM_ROT_180,
        4 => JXFORM_CODE_JXFORM_FLIP_V,
        5 => JXFORM_CODE_JXFORM_TRANSPOSE,
        6 => JXFORM_CODE_JXFORM_ROT_90,
        7 => JXFORM_CODE_JXFORM_TRANSVERSE,
        8 => JXFORM_CODE_JXFORM_ROT_270,
        _ => return None,
    })
}

/// jpeg_consume_input's answers (jpeglib.h).
const JPEG_SUSPENDED: c_int = 0;
const JPEG_REACHED_EOI: c_int = 2;

/// The whole-image DCT coefficient arrays of a decompressor in buffered-image mode, once its input
/// is consumed: `cinfo->coef->coef_arrays` (jpegint.h). The binding keeps `coef` private, so it is
/// read at its offset: the last nine fields of `jpeg_decompress_struct` are the module pointers
/// `coef` .. `cquantize` (libjpeg checks the struct's size against its own on creation, so the
/// layouts agree), and `coef_arrays` follows the four function pointers of
/// `jpeg_d_coef_controller`.
unsafe fn coef_arrays(d: &jpeg_decompress_struct) -> *mut jvirt_barray_ptr {
    let ptr = std::mem::size_of::<*mut u8>();
    let at = std::mem::size_of::<jpeg_decompress_struct>() - 9 * ptr;
    // SAFETY: `at` is the offset of the `coef` pointer (above), aligned as a pointer.
    let coef = unsafe { *((d as *const jpeg_decompress_struct).cast::<u8>().add(at).cast::<*const *mut jvirt_barray_ptr>()) };
    if coef.is_null() {
        return std::ptr::null_mut();
    }
    // SAFETY: `coef` points at libjpeg's `jpeg_d_coef_controller`; its fifth pointer is the arrays.
    unsafe { *coef.add(4) }
}

/// `bytes` (a JPEG without EXIF) turned upright for EXIF orientation `o` by transforming its DCT
/// coefficients, and its pixels at scale `m`/8 (as stored: orientation not applied) from one
/// entropy decoding: libjpeg decodes every block once into its coefficient arrays (buffered-image
/// mode), makes the pixels from them, then transforms the same coefficients into the upright file.
/// (Before, the transformed file was entropy-decoded a second time for its pixels.) `Ok(None)`
/// when no transform is needed or when it cannot be exact (the dimensions are not whole MCUs on an
/// edge the transform moves: a re-encode is needed). The pixels go into `buf`; their size is
/// returned with the file.
///
/// The output is baseline with libjpeg's standard Huffman tables: optimised tables would be 3-7.5%
/// smaller on the benchmark's 12 MP photos but cost a second pass over the coefficients, about
/// 15% of the whole intake's CPU time for a rotated photo (bench/imaging, 2026-12-07).
pub fn upright_lossless_decoded(bytes: &[u8], o: u32, m: u32, buf: &mut Vec<u8>) -> Result<Option<(Vec<u8>, u32, u32)>, Damaged> {
    let Some(code) = transform_for(o) else { return Ok(None) };
    let r = catch_unwind(AssertUnwindSafe(|| {
        let mut src = Decompress::new(bytes);
        // SAFETY: a plain C struct; zero is "off" for every option.
        let mut t: TransformInfo = unsafe { std::mem::zeroed() };
        t.transform = code;
        t.perfect = 1;
        t.trim = 0;
        // Requested before the decompressor starts, which realises every virtual array at once.
        if unsafe { request_workspace(&mut *src.d, &mut t) } == 0 {
            return Ok(None);
        }
        src.d.buffered_image = 1;
        src.d.out_color_space = J_COLOR_SPACE::JCS_RGB;
        src.d.scale_num = m.clamp(1, 8);
        src.d.scale_denom = 8;
        unsafe { jpeg_start_decompress(&mut src.d) };
        loop {
            match unsafe { jpeg_consume_input(&mut src.d) } {
                JPEG_REACHED_EOI => break,
                // A memory source never suspends; it ends a truncated file with a warning.
                JPEG_SUSPENDED => return Err(Damaged),
                _ => {}
            }
        }
        if src.damaged() {
            return Err(Damaged);
        }
        let scan = src.d.input_scan_number;
        unsafe { jpeg_start_output(&mut src.d, scan) };
        let (w, h) = (src.d.output_width as usize, src.d.output_height as usize);
        if src.d.output_components != 3 || w == 0 || h == 0 {
            return Err(Damaged);
        }
        read_rows(&mut src, w, h, buf)?;
        unsafe { jpeg_finish_output(&mut src.d) };
        // transupp reads the source's output size as the image's (its request_workspace set it
        // so); starting the scaled decode replaced it with the scaled size.
        src.d.output_width = src.d.image_width;
        src.d.output_height = src.d.image_height;
        let src_coefs = unsafe { coef_arrays(&src.d) };
        if src_coefs.is_null() {
            return Err(Damaged);
        }
        // SAFETY: the source's coefficient arrays, realised with the transform's workspace.
        let file = unsafe { write_transformed(&mut src, src_coefs, &mut t, Blocks::Ours) }?;
        Ok(Some((file, w as u32, h as u32)))
    }));
    r.unwrap_or(Err(Damaged))
}

/// Who moves the coefficient blocks in [`write_transformed`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum Blocks {
    /// [`transform_blocks`] where it applies (every transform jpegtran makes with a workspace,
    /// when it is perfect), else libjpeg's.
    Ours,
    /// `jtransform_execute_transform` always (the tests' reference).
    #[cfg_attr(not(test), allow(dead_code))]
    Libjpeg,
}

/// jpegtran's last steps: a baseline file with the source's critical parameters (libjpeg-turbo's
/// defaults, not MozJPEG's slow progressive search; standard Huffman tables) whose coefficients
/// are `src_coefs` transformed by `t`; then the source is finished. May unwind.
///
/// # Safety
/// `src_coefs` must be `src`'s realised coefficient arrays, `t` the transform requested on `src`.
unsafe fn write_transformed(src: &mut Decompress<'_>, src_coefs: *mut jvirt_barray_ptr, t: &mut TransformInfo, blocks: Blocks) -> Result<Vec<u8>, Damaged> {
    let mut dst = Compress::new();
    unsafe {
        jpeg_c_set_int_param(&mut dst.c, J_INT_PARAM::JINT_COMPRESS_PROFILE, JINT_COMPRESS_PROFILE_VALUE::JCP_FASTEST as c_int);
        jpeg_copy_critical_parameters(&src.d, &mut dst.c);
        dst.c.optimize_coding = 0;
        let dst_coefs = adjust_parameters(&mut *src.d, &mut *dst.c, src_coefs, t);
        jpeg_mem_dest(&mut dst.c, &mut dst.out, &mut dst.out_len);
        jpeg_write_coefficients(&mut dst.c, dst_coefs);
        if blocks == Blocks::Libjpeg || !transform_blocks(&mut src.d, &dst.c, src_coefs, dst_coefs, t.transform) {
            execute_transform(&mut *src.d, &mut *dst.c, src_coefs, t);
        }
        jpeg_finish_compress(&mut dst.c);
        jpeg_finish_decompress(&mut src.d);
    }
    if src.damaged() {
        return Err(Damaged);
    }
    Ok(dst.bytes())
}

/// A transform jpegtran makes through a workspace (transupp.c's `do_flip_v`, `do_transpose`,
/// `do_rot_90`, `do_rot_270`, `do_rot_180`, `do_transverse`), as a transpose followed by
/// mirrors of the destination's columns (x) and rows (y). It places the blocks, and within a
/// block transposes the coefficients and negates the odd frequencies along each mirrored axis
/// (by column `u` for x, row `v` for y).
#[derive(Clone, Copy)]
struct BlockOp {
    transpose: bool,
    mirror_x: bool,
    mirror_y: bool,
}

impl BlockOp {
    fn of(t: JXFORM_CODE) -> Option<BlockOp> {
        let op = |transpose, mirror_x, mirror_y| BlockOp { transpose, mirror_x, mirror_y };
        Some(match t {
            JXFORM_CODE_JXFORM_FLIP_V => op(false, false, true),
            JXFORM_CODE_JXFORM_ROT_180 => op(false, true, true),
            JXFORM_CODE_JXFORM_TRANSPOSE => op(true, false, false),
            JXFORM_CODE_JXFORM_ROT_90 => op(true, true, false),
            JXFORM_CODE_JXFORM_ROT_270 => op(true, false, true),
            JXFORM_CODE_JXFORM_TRANSVERSE => op(true, true, true),
            _ => return None,
        })
    }

    /// Per-lane masks of the eight destination rows: -1 where the coefficient is negated.
    fn masks(self) -> [[i16; 8]; 8] {
        let mut m = [[0i16; 8]; 8];
        for (v, row) in m.iter_mut().enumerate() {
            for (u, lane) in row.iter_mut().enumerate() {
                let neg = (self.mirror_y && v % 2 == 1) != (self.mirror_x && u % 2 == 1);
                *lane = if neg { -1 } else { 0 };
            }
        }
        m
    }

    /// The plain-Rust version of [`BlockOp::apply`] (other architectures; the tests' reference).
    #[cfg_attr(all(target_arch = "x86_64", not(test)), allow(dead_code))]
    fn apply_scalar(self, masks: &[[i16; 8]; 8], src: &JBLOCK, dst: &mut JBLOCK) {
        for v in 0..8 {
            for u in 0..8 {
                let s = if self.transpose { src[u * 8 + v] } else { src[v * 8 + u] };
                let m = masks[v][u];
                // `(s ^ -1) - (-1)` is `-s` as C's `-src` stores it in a short (wrapping).
                dst[v * 8 + u] = (s ^ m).wrapping_sub(m);
            }
        }
    }

    /// `dst` = this operation applied to `src` (SSE2: a register per row).
    #[cfg(target_arch = "x86_64")]
    fn apply(self, masks: &[[i16; 8]; 8], src: &JBLOCK, dst: &mut JBLOCK) {
        use std::arch::x86_64::*;
        // SAFETY: SSE2 is part of x86_64; unaligned loads and stores of 16 bytes within the
        // 128-byte blocks.
        unsafe {
            let ld = |i: usize| _mm_loadu_si128(src.as_ptr().add(i * 8).cast());
            let mut r = [ld(0), ld(1), ld(2), ld(3), ld(4), ld(5), ld(6), ld(7)];
            if self.transpose {
                let t0 = _mm_unpacklo_epi16(r[0], r[1]);
                let t1 = _mm_unpackhi_epi16(r[0], r[1]);
                let t2 = _mm_unpacklo_epi16(r[2], r[3]);
                let t3 = _mm_unpackhi_epi16(r[2], r[3]);
                let t4 = _mm_unpacklo_epi16(r[4], r[5]);
                let t5 = _mm_unpackhi_epi16(r[4], r[5]);
                let t6 = _mm_unpacklo_epi16(r[6], r[7]);
                let t7 = _mm_unpackhi_epi16(r[6], r[7]);
                let u0 = _mm_unpacklo_epi32(t0, t2);
                let u1 = _mm_unpackhi_epi32(t0, t2);
                let u2 = _mm_unpacklo_epi32(t1, t3);
                let u3 = _mm_unpackhi_epi32(t1, t3);
                let u4 = _mm_unpacklo_epi32(t4, t6);
                let u5 = _mm_unpackhi_epi32(t4, t6);
                let u6 = _mm_unpacklo_epi32(t5, t7);
                let u7 = _mm_unpackhi_epi32(t5, t7);
                r = [
                    _mm_unpacklo_epi64(u0, u4),
                    _mm_unpackhi_epi64(u0, u4),
                    _mm_unpacklo_epi64(u1, u5),
                    _mm_unpackhi_epi64(u1, u5),
                    _mm_unpacklo_epi64(u2, u6),
                    _mm_unpackhi_epi64(u2, u6),
                    _mm_unpacklo_epi64(u3, u7),
                    _mm_unpackhi_epi64(u3, u7),
                ];
            }
            for (v, row) in r.iter().enumerate() {
                let m = _mm_loadu_si128(masks[v].as_ptr().cast());
                let out = _mm_sub_epi16(_mm_xor_si128(*row, m), m);
                _mm_storeu_si128(dst.as_mut_ptr().add(v * 8).cast(), out);
            }
        }
    }

    #[cfg(not(target_arch = "x86_64"))]
    fn apply(self, masks: &[[i16; 8]; 8], src: &JBLOCK, dst: &mut JBLOCK) {
        self.apply_scalar(masks, src, dst)
    }
}

/// The coefficient blocks of `src_coefs` moved into `dst_coefs` as `jtransform_execute_transform`
/// moves them for a perfect transform, a block at a time with SIMD registers (libjpeg transposes
/// coefficient by coefficient: about a fifth of a rotated 12 MP photo's intake). `false`, having
/// written nothing, when this transform or these dimensions are not ones it handles (a transform
/// made in place, or an edge that is not whole MCUs): the caller then lets libjpeg do it.
///
/// # Safety
/// The arrays must be `src`'s realised coefficient arrays and the workspace arrays that
/// `jtransform_adjust_parameters` returned for `t` on `src` and `dst`.
unsafe fn transform_blocks(
    src: &mut jpeg_decompress_struct,
    dst: &jpeg_compress_struct,
    src_coefs: *mut jvirt_barray_ptr,
    dst_coefs: *mut jvirt_barray_ptr,
    t: JXFORM_CODE,
) -> bool {
    let Some(op) = BlockOp::of(t) else { return false };
    if src_coefs.is_null() || dst_coefs.is_null() || src_coefs == dst_coefs || src.num_components != dst.num_components {
        return false;
    }
    // SAFETY (all below): the memory manager and component tables libjpeg set up for `src` and
    // `dst`; `access_virt_barray` returns row pointers into arrays held wholly in memory (no
    // backing store is compiled in), so a row's pointer stays valid for the whole call.
    let Some(access) = (unsafe { (*src.common.mem).access_virt_barray }) else { return false };
    let n = dst.num_components as usize;
    let (src_comps, dst_comps) = unsafe { (std::slice::from_raw_parts(src.comp_info, n), std::slice::from_raw_parts(dst.comp_info, n)) };
    // The source's size in the destination's orientation, in whole iMCUs (as transupp counts).
    let (across, down) = if op.transpose { (src.output_height, src.output_width) } else { (src.output_width, src.output_height) };
    let (mcu_cols, mcu_rows) = (across / (dst.max_h_samp_factor as u32 * 8), down / (dst.max_v_samp_factor as u32 * 8));
    // Every block must be one transupp mirrors (a perfect transform); check before writing any.
    for (s, d) in src_comps.iter().zip(dst_comps) {
        let (w, h) = (d.width_in_blocks, d.height_in_blocks);
        let (need_w, need_h) = if op.transpose { (h, w) } else { (w, h) };
        if (op.mirror_x && mcu_cols * d.h_samp_factor as u32 != w)
            || (op.mirror_y && mcu_rows * d.v_samp_factor as u32 != h)
            || need_w > s.width_in_blocks
            || need_h > s.height_in_blocks
        {
            return false;
        }
    }
    let masks = op.masks();
    for (ci, (s, d)) in src_comps.iter().zip(dst_comps).enumerate() {
        let (w, h) = (d.width_in_blocks as usize, d.height_in_blocks as usize);
        let (src_arr, dst_arr) = unsafe { (*src_coefs.add(ci), *dst_coefs.add(ci)) };
        let src_rows: Vec<JBLOCKROW> =
            (0..s.height_in_blocks).map(|r| unsafe { *access(&mut src.common, src_arr, r, 1, 0) }).collect();
        // The destination's rows are taken writable in order up to whole iMCU rows, as the
        // compressor reads them (libjpeg refuses a read of a row never written).
        let dst_rows: Vec<JBLOCKROW> = (0..(h as u32).next_multiple_of(d.v_samp_factor as u32))
            .map(|r| unsafe { *access(&mut src.common, dst_arr, r, 1, 1) })
            .collect();
        // Bands of destination rows, column by column: a transposing transform then reads each
        // band's blocks from one source row, side by side, instead of one block from each of
        // hundreds of rows (a page, and a TLB entry, per block).
        const BAND: usize = 8;
        for top in (0..h).step_by(BAND) {
            for dx in 0..w {
                let x = if op.mirror_x { w - 1 - dx } else { dx };
                for dy in top..(top + BAND).min(h) {
                    let y = if op.mirror_y { h - 1 - dy } else { dy };
                    let (sx, sy) = if op.transpose { (y, x) } else { (x, y) };
                    // SAFETY: dx < w <= the destination row's blocks; sx < need_w <= the source
                    // row's blocks and sy < need_h <= its rows (checked above).
                    let (from, to) = unsafe { (&*src_rows[sy].add(sx), &mut *dst_rows[dy].add(dx)) };
                    op.apply(&masks, from, to);
                }
            }
        }
    }
    #[cfg(test)]
    tests::OUR_TRANSFORMS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    true
}

/// Reads the `h` rows (`w` RGB pixels each) of the output pass into `buf`, which libjpeg fills
/// in place (not zeroed first: the memset showed at 1-2% of an upright intake's profile, though
/// the change was within the timing noise); `buf` is empty unless every row was read.
fn read_rows(d: &mut Decompress<'_>, w: usize, h: usize, buf: &mut Vec<u8>) -> Result<(), Damaged> {
    let row = w * 3;
    buf.clear();
    buf.reserve(row * h);
    let base = buf.spare_capacity_mut().as_mut_ptr().cast::<u8>();
    while (d.d.output_scanline as usize) < h {
        let y = d.d.output_scanline as usize;
        let n = (h - y).min(16);
        let mut rows: [*mut u8; 16] = [std::ptr::null_mut(); 16];
        for (i, r) in rows.iter_mut().enumerate().take(n) {
            // SAFETY: row y + i < h lies within the `row * h` bytes reserved above.
            *r = unsafe { base.add((y + i) * row) };
        }
        let got = unsafe { jpeg_read_scanlines(&mut d.d, rows.as_mut_ptr(), n as u32) };
        if got == 0 {
            return Err(Damaged);
        }
    }
    // SAFETY: libjpeg wrote every one of the `h` rows (output_scanline reached h).
    unsafe { buf.set_len(row * h) };
    Ok(())
}

/// Rows handed to libjpeg at a time by [`encode_rgb`] when they are produced into a band.
const ENCODE_BAND_ROWS: usize = 64;
/// Bytes libjpeg writes before [`VecDest`] moves them into its `Vec`.
const DEST_CHUNK: usize = 64 * 1024;

/// A libjpeg destination that appends to a `Vec` reserved up front (libjpeg's memory destination
/// doubles a malloc'd buffer and needs a copy at the end).
#[repr(C)]
struct VecDest {
    mgr: jpeg_destination_mgr,
    out: Vec<u8>,
    chunk: Vec<u8>,
}

impl VecDest {
    fn new(reserve: usize) -> Box<Self> {
        let mgr = jpeg_destination_mgr {
            next_output_byte: std::ptr::null_mut(),
            free_in_buffer: 0,
            init_destination: Some(dest_init),
            empty_output_buffer: Some(dest_empty),
            term_destination: Some(dest_term),
        };
        Box::new(VecDest { mgr, out: Vec::with_capacity(reserve), chunk: vec![0; DEST_CHUNK] })
    }
}

/// SAFETY (the three callbacks): `cinfo.dest` is the `mgr` field, first in the `#[repr(C)]`
/// `VecDest` that [`encode_rgb`] owns for as long as the compressor uses it.
unsafe extern "C-unwind" fn dest_init(cinfo: &mut jpeg_compress_struct) {
    let d = unsafe { &mut *cinfo.dest.cast::<VecDest>() };
    d.mgr.next_output_byte = d.chunk.as_mut_ptr();
    d.mgr.free_in_buffer = d.chunk.len();
}

unsafe extern "C-unwind" fn dest_empty(cinfo: &mut jpeg_compress_struct) -> boolean {
    // libjpeg calls this when the whole chunk is full (whatever free_in_buffer says).
    let d = unsafe { &mut *cinfo.dest.cast::<VecDest>() };
    d.out.extend_from_slice(&d.chunk);
    d.mgr.next_output_byte = d.chunk.as_mut_ptr();
    d.mgr.free_in_buffer = d.chunk.len();
    1
}

unsafe extern "C-unwind" fn dest_term(cinfo: &mut jpeg_compress_struct) {
    let d = unsafe { &mut *cinfo.dest.cast::<VecDest>() };
    let used = d.chunk.len() - d.mgr.free_in_buffer.min(d.chunk.len());
    d.out.extend_from_slice(&d.chunk[..used]);
}

/// Where [`encode_rgb`] takes its rows from.
pub enum RowsIn<'a> {
    /// Upright rows, `w * 3` bytes each, one after the other.
    Packed(&'a [u8]),
    /// `fill(y, band)` writes upright rows `y..` into `band` (a whole number of rows, at most 64).
    Fill(&'a mut dyn FnMut(usize, &mut [u8])),
}

/// Baseline JPEG of `w`×`h` RGB8 pixels at `quality`: 4:2:0, libjpeg's standard Huffman tables
/// and quantisation tables scaled for `quality` (as libjpeg-turbo; MozJPEG's slower search is
/// off), JFIF header only, through libjpeg-turbo's SIMD encoder (bench/imaging: a 12 MP photo's
/// intake took 20-40% less CPU time than with the pure-Rust encoder used before). `None` if
/// libjpeg fails.
pub fn encode_rgb(w: u32, h: u32, quality: u8, mut rows_in: RowsIn<'_>) -> Option<Vec<u8>> {
    let (wu, hu) = (w as usize, h as usize);
    let row = wu * 3;
    if w == 0 || h == 0 || w > 65_500 || h > 65_500 || matches!(rows_in, RowsIn::Packed(p) if p.len() < row * hu) {
        return None;
    }
    let r = catch_unwind(AssertUnwindSafe(|| {
        // Declared before the compressor, so dropped after it.
        let mut dest = VecDest::new(wu * hu / 4 + 1024);
        let mut c = Compress::new();
        let mut band = match rows_in {
            RowsIn::Packed(_) => Vec::new(),
            RowsIn::Fill(_) => vec![0u8; row * ENCODE_BAND_ROWS.min(hu)],
        };
        unsafe {
            c.c.image_width = w;
            c.c.image_height = h;
            c.c.input_components = 3;
            c.c.in_color_space = J_COLOR_SPACE::JCS_RGB;
            // libjpeg-turbo's defaults (baseline, Annex K tables, no trellis or multi-pass
            // search); jpeg_set_defaults reads the profile, so it goes first.
            jpeg_c_set_int_param(&mut c.c, J_INT_PARAM::JINT_COMPRESS_PROFILE, JINT_COMPRESS_PROFILE_VALUE::JCP_FASTEST as c_int);
            jpeg_set_defaults(&mut c.c);
            jpeg_set_quality(&mut c.c, c_int::from(quality.clamp(1, 100)), 1);
            c.c.optimize_coding = 0;
            c.c.dest = &mut dest.mgr;
            jpeg_start_compress(&mut c.c, 1);
        }
        let mut rows: Vec<*const u8> = Vec::with_capacity(ENCODE_BAND_ROWS);
        while (c.c.next_scanline as usize) < hu {
            let y = c.c.next_scanline as usize;
            let n = (hu - y).min(ENCODE_BAND_ROWS);
            rows.clear();
            match &mut rows_in {
                RowsIn::Packed(px) => rows.extend((y..y + n).map(|r| px[r * row..].as_ptr())),
                RowsIn::Fill(fill) => {
                    fill(y, &mut band[..n * row]);
                    rows.extend((0..n).map(|r| band[r * row..].as_ptr()));
                }
            }
            // SAFETY: each pointer is to a row of `row` bytes that outlives the call; libjpeg
            // only reads input rows.
            let wrote = unsafe { jpeg_write_scanlines(&mut c.c, rows.as_ptr(), n as u32) };
            if wrote == 0 {
                return None;
            }
        }
        unsafe { jpeg_finish_compress(&mut c.c) };
        drop(c);
        Some(std::mem::take(&mut dest.out))
    }));
    r.ok().flatten()
}

/// Scale numerator (over 8) of the smallest reduced-scale decode whose long side is at least
/// `min_long` (8 = full size). libjpeg rounds scaled sizes up.
pub fn scale_for(w: u32, h: u32, min_long: u32) -> u32 {
    let long = w.max(h) as u64;
    (1..=8u32).find(|&m| (long * m as u64).div_ceil(8) >= min_long as u64).unwrap_or(8)
}

/// Size of the image [`decode_scaled`] returns for scale `m`/8.
pub fn scaled_dims(w: u32, h: u32, m: u32) -> (u32, u32) {
    ((w as u64 * m as u64).div_ceil(8) as u32, (h as u64 * m as u64).div_ceil(8) as u32)
}

/// Decodes a YCbCr or greyscale JPEG to RGB8 at scale `m`/8 (1..=8) through the scaled inverse
/// DCT. Every block is entropy-decoded; damaged data fails. `buf` is reused for the pixels.
pub fn decode_scaled(bytes: &[u8], m: u32, mut buf: Vec<u8>) -> Result<(u32, u32, Vec<u8>), (Damaged, Vec<u8>)> {
    let r = catch_unwind(AssertUnwindSafe(|| {
        let mut d = Decompress::new(bytes);
        d.d.out_color_space = J_COLOR_SPACE::JCS_RGB;
        d.d.scale_num = m.clamp(1, 8);
        d.d.scale_denom = 8;
        unsafe { jpeg_start_decompress(&mut d.d) };
        let (w, h) = (d.d.output_width as usize, d.d.output_height as usize);
        if d.d.output_components != 3 || w == 0 || h == 0 {
            return Err(Damaged);
        }
        read_rows(&mut d, w, h, &mut buf)?;
        unsafe { jpeg_finish_decompress(&mut d.d) };
        if d.damaged() {
            return Err(Damaged);
        }
        Ok((w as u32, h as u32))
    }));
    match r {
        Ok(Ok((w, h))) => Ok((w, h, buf)),
        _ => Err((Damaged, buf)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How many transforms [`transform_blocks`] made (rather than libjpeg).
    pub(super) static OUR_TRANSFORMS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    /// jpegtran's own sequence (`jpeg_read_coefficients`, then the transform): the reference
    /// [`upright_lossless_decoded`]'s file must match byte for byte (it reads the coefficient
    /// arrays through `coef_arrays`' offset: a wrong offset could not give the same file). The
    /// last steps, `write_transformed`, are shared, with libjpeg's own block moves here.
    fn upright_lossless(bytes: &[u8], o: u32) -> Result<Option<Vec<u8>>, Damaged> {
        let Some(code) = transform_for(o) else { return Ok(None) };
        let r = catch_unwind(AssertUnwindSafe(|| {
            let mut src = Decompress::new(bytes);
            // SAFETY: a plain C struct; zero is "off" for every option.
            let mut t: TransformInfo = unsafe { std::mem::zeroed() };
            (t.transform, t.perfect) = (code, 1);
            if unsafe { request_workspace(&mut *src.d, &mut t) } == 0 {
                return Ok(None);
            }
            let src_coefs = unsafe { jpeg_read_coefficients(&mut src.d) };
            if src.damaged() {
                return Err(Damaged);
            }
            unsafe { write_transformed(&mut src, src_coefs, &mut t, Blocks::Libjpeg) }.map(Some)
        }));
        r.unwrap_or(Err(Damaged))
    }

    #[test]
    fn one_decoding_gives_jpegtran_s_file_and_the_pixels_of_a_plain_decode() {
        use crate::synth::{self, JpegOpts, Scene};
        // 4:4:4 baseline and progressive (jpeg-encoder at q90), and 4:2:0 (libjpeg, as phones
        // write) whole in both directions and with a partial MCU column: the transforms that
        // do not mirror that edge are still exact, the others are refused by both.
        let mut cases = Vec::new();
        for progressive in [false, true] {
            let img = synth::render(&Scene { width: 512, height: 384, ..Default::default() });
            cases.push((format!("512x384 4:4:4 progressive {progressive}"), synth::jpeg(&img, JpegOpts { quality: 90, progressive, ..Default::default() })));
        }
        for (w, h) in [(512, 384), (520, 384)] {
            let img = synth::render(&Scene { width: w, height: h, ..Default::default() });
            cases.push((format!("{w}x{h} 4:2:0"), encode_rgb(w, h, 90, RowsIn::Packed(&img.px)).unwrap()));
        }
        let mut exact = 0;
        for (what, bytes) in &cases {
            for o in 2..=8 {
                let mut buf = Vec::new();
                let ours = upright_lossless_decoded(bytes, o, 4, &mut buf).unwrap();
                let reference = upright_lossless(bytes, o).unwrap();
                let Some((file, w, h)) = ours else {
                    assert!(reference.is_none(), "{what}, orientation {o}: jpegtran transforms it exactly");
                    continue;
                };
                exact += 1;
                assert!(file == reference.expect("jpegtran's transform"), "{what}, orientation {o}: the transformed file");
                let (rw, rh, px) = decode_scaled(bytes, 4, Vec::new()).unwrap();
                assert_eq!((w, h), (rw, rh));
                assert!(buf == px, "{what}, orientation {o}: the pixels, as stored");
            }
        }
        // Every orientation of the three whole-MCU files, and of the 520 px one those that do not
        // mirror its partial right edge (4: flip vertically, 5: transpose, 8: rotate 270).
        assert_eq!(exact, 3 * 7 + 3);
        // All of them by `transform_blocks` but the horizontal flips, which libjpeg makes in place.
        assert_eq!(OUR_TRANSFORMS.load(std::sync::atomic::Ordering::Relaxed), 3 * 6 + 3);
    }

    #[test]
    fn the_simd_block_operations_are_the_scalar_ones() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as i16
        };
        for t in [
            JXFORM_CODE_JXFORM_FLIP_V,
            JXFORM_CODE_JXFORM_ROT_180,
            JXFORM_CODE_JXFORM_TRANSPOSE,
            JXFORM_CODE_JXFORM_ROT_90,
            JXFORM_CODE_JXFORM_ROT_270,
            JXFORM_CODE_JXFORM_TRANSVERSE,
        ] {
            let op = BlockOp::of(t).unwrap();
            let masks = op.masks();
            for _ in 0..100 {
                let mut src = [0i16; 64];
                src.iter_mut().for_each(|c| *c = next());
                src[5] = i16::MIN;
                let (mut a, mut b) = ([0i16; 64], [0i16; 64]);
                op.apply(&masks, &src, &mut a);
                op.apply_scalar(&masks, &src, &mut b);
                assert_eq!(a, b, "transform {t}");
            }
        }
    }
}
