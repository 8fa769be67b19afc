//! Reads of the kernel's own files, served.
//!
//! The program keeps the fd the kernel gave it: its flags, locks, `fstat`, `fstatfs`, its link
//! in `/proc/self/fd`, `mmap` and `SEEK_END` refusals, dup and fork sharing are the kernel's
//! own. Only what a read returns changes. Every read goes to the kernel first, into the
//! program's buffer: that checks the buffer (EFAULT, not a crash), moves the file position as
//! the kernel does, and at offset 0 delivers the host's text, the template of the container's
//! file. The library then writes its content over the bytes the kernel wrote, never more, and
//! clears what it did not overwrite.
//!
//! The served content can be shorter or longer than the kernel's (`/proc/stat` loses CPU
//! lines), so the kernel's position and the position in the served content can differ: an
//! [`Entry`] maps one to the other, and keeps the content itself when a program reads it in
//! pieces (Rust's `read_to_end` starts with 32 bytes), so that the pieces come from one
//! generation as they do from the kernel.

use crate::fds::{self, Entry, State};
use crate::kernel::{self, Kind};
use crate::source::RawSource;
use crate::{content, seal, stack, sys};
use core::ffi::c_int;
use core::sync::atomic::Ordering;

/// The program's buffers of one read call.
#[derive(Clone, Copy)]
pub enum Bufs {
    One(*mut u8, usize),
    Vec(*const libc::iovec, c_int),
}

impl Bufs {
    /// The buffers as (pointer, length) pairs.
    ///
    /// # Safety
    /// For `Vec`, the array must be readable: the kernel has just read it successfully.
    unsafe fn each(self) -> impl Iterator<Item = (*mut u8, usize)> {
        let (one, vec) = match self {
            Bufs::One(p, n) => (Some((p, n)), None),
            Bufs::Vec(iov, n) => (None, Some((iov, usize::try_from(n).unwrap_or(0)))),
        };
        let vec_items = vec.into_iter().flat_map(|(iov, n)| {
            (0..n).map(move |i| {
                // SAFETY: `i < n` and the array of `n` iovecs is readable (the caller's contract).
                let v = unsafe { *iov.add(i) };
                (v.iov_base.cast::<u8>(), v.iov_len)
            })
        });
        one.into_iter().chain(vec_items)
    }

    /// # Safety
    /// As for [`Bufs::each`].
    unsafe fn capacity(self) -> usize {
        // SAFETY: forwarded.
        unsafe { self.each() }.fold(0usize, |a, (_, n)| a.saturating_add(n))
    }

    /// Calls `f` with each (offset in the whole, pointer, length) of the first `limit` bytes.
    ///
    /// # Safety
    /// As for [`Bufs::each`].
    unsafe fn walk(self, limit: usize, mut f: impl FnMut(usize, *mut u8, usize)) {
        let mut at = 0usize;
        // SAFETY: forwarded.
        for (p, n) in unsafe { self.each() } {
            if at >= limit {
                break;
            }
            let take = n.min(limit - at);
            f(at, p, take);
            at += take;
        }
    }

    /// Copies the first bytes of the buffers (written by the kernel) into `out`.
    ///
    /// # Safety
    /// As for [`Bufs::each`], and the first `n` bytes must have been written by the kernel.
    unsafe fn gather(self, n: usize, out: &mut [u8]) -> Option<usize> {
        let dst = out.get_mut(..n)?;
        // SAFETY: forwarded; each piece lies within the `n` bytes the kernel wrote.
        unsafe {
            self.walk(n, |at, p, take| {
                if let Some(d) = dst.get_mut(at..at + take) {
                    d.copy_from_slice(core::slice::from_raw_parts(p, take));
                }
            })
        };
        Some(n)
    }

    /// Writes `bytes` over the start of the buffers, then zeroes them up to `written`.
    ///
    /// # Safety
    /// As for [`Bufs::each`]; the first `written >= bytes.len()` bytes were written by the kernel
    /// in this call, so they are writable memory of the program's.
    unsafe fn overwrite(self, bytes: &[u8], written: usize) {
        // SAFETY: forwarded; every piece lies within the `written` bytes the kernel wrote.
        unsafe {
            self.walk(written, |at, p, take| {
                let ours = bytes.get(at..).unwrap_or(&[]);
                let n = take.min(ours.len());
                core::ptr::copy_nonoverlapping(ours.as_ptr(), p, n);
                core::ptr::write_bytes(p.add(n), 0, take - n);
            })
        };
    }

    /// Has the kernel write the start of its file into the buffers again: the bytes it writes
    /// are the ones we may overwrite.
    ///
    /// # Safety
    /// None beyond the kernel's own checks.
    unsafe fn prove(self, fd: c_int) -> isize {
        match self {
            // SAFETY: the kernel checks the memory.
            Bufs::One(p, n) => unsafe { sys::pread_raw(fd, p, n, 0) },
            // SAFETY: the kernel checks the array and the memory.
            Bufs::Vec(iov, n) => unsafe { sys::preadv_raw(fd, iov, n, 0) },
        }
    }
}

/// Unlocks an entry when the read is done.
struct Held(Option<&'static Entry>);

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(e) = self.0 {
            e.unlock();
        }
    }
}

/// Whether `fd` still is the kernel file of `kind`; otherwise it is forgotten (closed and
/// reused behind our back).
fn still_ours(fd: c_int, kind: Kind) -> bool {
    if kernel::is_kernel_file(fd, kind) {
        return true;
    }
    fds::set(fd, State::Plain);
    false
}

/// Where a read of `fd` starts in the served content: the kernel's position (or a positional
/// read's offset) mapped through the entry when the entry describes it, else the same number.
///
/// A positional read continues the content of the last one when it starts where that one
/// ended, as the kernel's seq files do (one position serves both kinds of read there): a
/// program that copies with `pread`/`sendfile` and advancing offsets gets one generation.
fn position(entry: Option<&Entry>, at: u64, positional: bool) -> (u64, Option<u64>) {
    match entry {
        Some(e)
            if e.mapped.load(Ordering::Relaxed)
                && e.positional.load(Ordering::Relaxed) == positional
                && e.kernel_pos.load(Ordering::Relaxed) == at
                && (at > 0 || !positional) =>
        {
            (e.pos.load(Ordering::Relaxed), Some(e.len.load(Ordering::Relaxed)))
        }
        _ => (at, None),
    }
}

/// A read (`read`, `pread`, `readv`, `preadv`) of a served kernel file. `offset` is the
/// positional read's offset; `real` makes the program's call itself.
pub fn read(
    fd: c_int,
    kind: Kind,
    bufs: Bufs,
    offset: Option<i64>,
    real: &mut dyn FnMut() -> isize,
) -> isize {
    if seal::sealed() || !crate::env::config().enabled(kind.feature()) || !still_ours(fd, kind) {
        return real();
    }
    let kernel_pos = match offset {
        Some(o) => o,
        None => sys::lseek(fd, 0, libc::SEEK_CUR),
    };
    let Ok(kernel_pos) = u64::try_from(kernel_pos) else { return real() };
    let entry = Held(fds::find(fd));
    let (pos, known_len) = position(entry.0, kernel_pos, offset.is_some());
    let from_kernel = real();
    let Ok(written) = usize::try_from(from_kernel) else { return from_kernel };
    if offset.is_none() && known_len.is_none() && written == 0 && kernel_pos > 0 {
        // The kernel's end, and nothing maps it elsewhere: the served content ended here too.
        return 0;
    }
    let req = Request {
        fd,
        kind,
        bufs,
        kernel_pos,
        pos,
        known_len,
        written,
        positional: offset.is_some(),
        at_end: core::cell::Cell::new(None),
    };
    stack::run(|arena| req.serve(entry.0, arena)).flatten().unwrap_or(from_kernel)
}

struct Request {
    fd: c_int,
    kind: Kind,
    bufs: Bufs,
    kernel_pos: u64,
    /// Where the read starts in the served content.
    pos: u64,
    /// The served content's length, when the entry knows it.
    known_len: Option<u64>,
    /// Bytes the kernel wrote into the buffers.
    written: usize,
    positional: bool,
    /// [`Request::at_end`], once asked: the template and the entry's fate ask the same question
    /// of the same offset within one read, and get one answer (one system call).
    at_end: core::cell::Cell<Option<bool>>,
}

impl Request {
    /// The served read; `None` to leave the kernel's bytes as they are.
    fn serve(&self, entry: Option<&Entry>, arena: &mut stack::Arena) -> Option<isize> {
        // SAFETY (for every use of `self.bufs`): the kernel has just read into them successfully.
        let capacity = unsafe { self.bufs.capacity() };
        let (content, from_kept) = self.content(entry, capacity, arena)?;
        let rest = content.get(usize::try_from(self.pos).ok()?..).unwrap_or(&[]);
        let want = rest.len().min(capacity);
        let mut proven = self.written;
        if want > proven {
            // SAFETY: the kernel checks the buffers.
            let again = unsafe { self.bufs.prove(self.fd) };
            proven = proven.max(usize::try_from(again).unwrap_or(0));
        }
        let n = want.min(proven);
        // SAFETY: `proven` bytes of the buffers were just written by the kernel.
        unsafe { self.bufs.overwrite(rest.get(..n)?, proven) };
        self.remember(entry, content, from_kept, n);
        isize::try_from(n).ok()
    }

    /// The served content this read continues: the one kept from earlier pieces, nothing past
    /// its end, or a fresh one. Also whether it is the kept one.
    fn content<'a>(
        &self,
        entry: Option<&'a Entry>,
        capacity: usize,
        arena: &'a mut stack::Arena,
    ) -> Option<(&'a [u8], bool)> {
        let kept = entry.filter(|_| self.known_len.is_some() && self.pos > 0).and_then(Entry::kept);
        match (kept, self.known_len) {
            (Some(c), _) => Some((c, true)),
            (None, Some(len)) if self.pos >= len => Some((&[], false)),
            _ => {
                let (template, rendered) = arena.halves();
                let src = RawSource::new();
                let host = self.template(&src, capacity, template)?;
                let len = content::render(self.kind, &src, host, rendered, self.fd)?;
                Some((rendered.get(..len)?, false))
            }
        }
    }

    /// The host's text: from the program's own read when it covered the whole file, else read
    /// again from the start (under the test root: the root's file).
    fn template<'a>(&self, src: &RawSource, capacity: usize, buf: &'a mut [u8]) -> Option<&'a [u8]> {
        let n = if src.rooted() {
            content::rooted_template(self.kind, src, buf)?
        } else if !content::needs_template(self.kind) {
            0
        } else if self.kernel_pos == 0 && self.written < capacity && self.at_end() {
            // SAFETY: the kernel wrote `written` bytes into the buffers in this call.
            unsafe { self.bufs.gather(self.written, buf)? }
        } else {
            content::read_from_start(self.fd, buf)?
        };
        buf.get(..n)
    }

    /// Whether the kernel stopped short of the buffers at the end of its file, not at memory it
    /// could not write (a buffer running into an unmapped page). A one-byte read right after
    /// the bytes it wrote: at the end it costs no regeneration of the file.
    fn at_end(&self) -> bool {
        if let Some(known) = self.at_end.get() {
            return known;
        }
        let next = self.kernel_pos.saturating_add(self.written as u64);
        let end = i64::try_from(next).is_ok_and(|at| sys::pread(self.fd, &mut [0u8; 1], at) == 0);
        self.at_end.set(Some(end));
        end
    }

    /// Records where the next read continues the served content (for reads at the file
    /// position: where the kernel's position now stands in it), and keeps the content when the
    /// program has not read all of it.
    fn remember(&self, entry: Option<&Entry>, content: &[u8], from_kept: bool, n: usize) {
        let pos_after = self.pos.saturating_add(n as u64);
        let kernel_after =
            if self.positional { pos_after } else { self.kernel_pos.saturating_add(self.written as u64) };
        let len = content.len() as u64;
        let partial = pos_after < len;
        // Both positions agree and the served content is done: the entry can go only when the
        // kernel is at its end too (its next read returns 0); when its file is longer, the
        // next read must still find the served content's end here, not start a fresh one.
        // A positional read's end is kept: the kernel's file at that offset says nothing.
        if !self.positional && kernel_after == pos_after && !partial && self.at_end() {
            if let Some(e) = entry {
                e.reset();
            }
            return;
        }
        let claimed;
        let e = match entry {
            Some(e) => e,
            None => {
                claimed = fds::claim(self.fd, self.kind);
                match claimed {
                    Some(e) => e,
                    None => return,
                }
            }
        };
        e.positional.store(self.positional, Ordering::Relaxed);
        e.kernel_pos.store(kernel_after, Ordering::Relaxed);
        e.pos.store(pos_after, Ordering::Relaxed);
        e.len.store(len, Ordering::Relaxed);
        e.mapped.store(true, Ordering::Relaxed);
        if partial && !from_kept {
            e.keep(content);
        } else if !partial {
            e.kept.store(0, Ordering::Relaxed);
        }
        if entry.is_none() {
            e.unlock();
        }
    }
}

/// `lseek` on a served kernel file: the position the program sees is the served content's.
pub fn seek(
    fd: c_int,
    kind: Kind,
    offset: i64,
    whence: c_int,
    real: &mut dyn FnMut(i64, c_int) -> i64,
) -> i64 {
    if seal::sealed() {
        return real(offset, whence);
    }
    if whence != libc::SEEK_CUR {
        let r = real(offset, whence);
        if r >= 0
            && let Some(e) = fds::find(fd)
        {
            e.reset();
            e.unlock();
        }
        return r;
    }
    if !still_ours(fd, kind) {
        return real(offset, whence);
    }
    let Ok(kernel_pos) = u64::try_from(sys::lseek(fd, 0, libc::SEEK_CUR)) else {
        return real(offset, whence);
    };
    let entry = Held(fds::find(fd));
    let (pos, _) = position(entry.0, kernel_pos, false);
    if offset == 0 {
        return i64::try_from(pos).unwrap_or(i64::MAX);
    }
    let target = i64::try_from(pos).ok().and_then(|p| p.checked_add(offset));
    let r = match target {
        Some(t) if t >= 0 => real(t, libc::SEEK_SET),
        _ => real(offset, whence),
    };
    if r >= 0
        && let Some(e) = entry.0
    {
        e.reset();
    }
    r
}

/// Whether the kernel sends the file of `kind` at all: `sendfile` needs the file to support
/// splicing, which some procfs files do not (`/proc/swaps`: EINVAL). Asked once per kind, of the
/// kernel, with one byte into a pipe of the library's own: `None`, or the errno to answer.
fn splice_refusal(kind: Kind, real: &mut dyn FnMut(c_int, *mut i64, usize) -> isize) -> Option<c_int> {
    static ANSWER: [core::sync::atomic::AtomicI32; 8] = [const { core::sync::atomic::AtomicI32::new(-1) }; 8];
    let slot = ANSWER.get(kind as usize)?;
    match slot.load(Ordering::Relaxed) {
        -1 => {}
        0 => return None,
        e => return Some(e),
    }
    let (r, w) = sys::pipe()?;
    let mut at = 0i64;
    let errno_before = crate::errno();
    let n = real(w, &mut at, 1);
    let answer = if n < 0 { crate::errno() } else { 0 };
    crate::set_errno(errno_before);
    sys::close(r);
    sys::close(w);
    slot.store(answer, Ordering::Relaxed);
    (answer != 0).then_some(answer)
}

/// `sendfile` from a served kernel file: the content is written to `out` by the library
/// (the kernel would copy its own). `real(out, offset, count)` is the program's call with those
/// arguments; with a count of 0 it checks the fds and the offset pointer without copying.
pub fn sendfile(
    out: c_int,
    fd: c_int,
    kind: Kind,
    offset: *mut i64,
    count: usize,
    real: &mut dyn FnMut(c_int, *mut i64, usize) -> isize,
) -> isize {
    if seal::sealed() || !crate::env::config().enabled(kind.feature()) || !still_ours(fd, kind) {
        return real(out, offset, count);
    }
    let checked = real(out, offset, 0);
    if checked < 0 || count == 0 {
        return checked;
    }
    if let Some(errno) = splice_refusal(kind, real) {
        crate::set_errno(errno);
        return -1;
    }
    let kernel_pos = if offset.is_null() {
        match u64::try_from(sys::lseek(fd, 0, libc::SEEK_CUR)) {
            Ok(p) => p,
            Err(_) => return real(out, offset, count),
        }
    } else {
        // SAFETY: the kernel has just read and written `*offset` (the zero-count call).
        match u64::try_from(unsafe { *offset }) {
            Ok(p) => p,
            Err(_) => return real(out, offset, count),
        }
    };
    let entry = Held(fds::find(fd));
    let (pos, known_len) = position(entry.0, kernel_pos, !offset.is_null());
    let req = Request {
        fd,
        kind,
        bufs: Bufs::One(core::ptr::null_mut(), 0),
        kernel_pos,
        pos,
        known_len,
        written: 0,
        positional: !offset.is_null(),
        at_end: core::cell::Cell::new(None),
    };
    let sent = stack::run(|arena| {
        let (content, from_kept) = req.content(entry.0, 0, arena)?;
        let rest = content.get(usize::try_from(pos).ok()?..).unwrap_or(&[]);
        let rest = rest.get(..rest.len().min(count))?;
        let mut done = 0usize;
        while done < rest.len() {
            let w = sys::write(out, rest.get(done..)?);
            if w == -(libc::EINTR as isize) {
                continue;
            }
            match usize::try_from(w) {
                Ok(0) => break,
                Ok(w) => done += w,
                Err(_) if done > 0 => break,
                Err(_) => return Some(w),
            }
        }
        req.remember(entry.0, content, from_kept, done);
        isize::try_from(done).ok()
    })
    .flatten();
    match sent {
        Some(n) if n >= 0 => {
            if !offset.is_null() {
                // SAFETY: checked by the zero-count call.
                unsafe { *offset = offset.read().saturating_add(n as i64) };
            }
            n
        }
        Some(err) => crate::libc_result(err as i64) as isize,
        None => real(out, offset, count),
    }
}
