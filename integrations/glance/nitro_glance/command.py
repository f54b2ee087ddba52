"""Runs the nitro command; its exit codes become glance_store's exceptions.

Inside glance-api, eventlet has patched ``subprocess``, so waiting on nitro lets other requests run.
"""

import json
import shlex
import subprocess
import tempfile

from glance_store import exceptions

# nitro's exit codes (README.md, "Exit codes")
NOT_FOUND = 3
EXISTS = 4
NO_SPACE = 7
INCOMPLETE = 10


class NitroFailed(Exception):
    """nitro exited non-zero; ``message`` is its last line on stderr."""

    def __init__(self, argv, code, stderr):
        lines = [line for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
        self.code = code
        self.message = lines[-1] if lines else "exit status %d" % code
        super().__init__("%s: %s (exit %d)" % (" ".join(argv[-2:]), self.message, code))


def store_error(err, image):
    """The glance_store exception Glance expects for a failed nitro command."""
    if err.code in (NOT_FOUND, INCOMPLETE):
        return exceptions.NotFound(message="image %s: %s" % (image, err.message))
    if err.code == EXISTS:
        return exceptions.Duplicate(image=image)
    if err.code == NO_SPACE:
        return exceptions.StorageFull(message="image %s: %s" % (image, err.message))
    return exceptions.BackendException("nitro: %s" % err)


class Nitro:
    """The nitro command line for one repository."""

    def __init__(self, command, repo=None):
        self.base = shlex.split(command) + (["--repo", repo] if repo else []) + ["--no-progress"]

    def argv(self, *args):
        return self.base + list(args)

    def run(self, *args):
        """Runs nitro to its end and returns its standard output."""
        argv = self.argv(*args)
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, check=False)
        if done.returncode != 0:
            raise NitroFailed(argv, done.returncode, done.stderr)
        return done.stdout

    def info(self, image):
        return json.loads(self.run("--json", "info", image))

    def add(self, image, blocks):
        """Feeds the blocks to ``nitro add - --name IMAGE``; returns the number of bytes sent.

        If reading the upload fails, nitro is killed before the end of its input, so no short image
        is ever stored under that name.
        """
        argv = self.argv("--quiet", "add", "-", "--name", image)
        with tempfile.TemporaryFile() as stderr:
            proc = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=stderr
            )
            size = 0
            try:
                for block in blocks:
                    proc.stdin.write(block)
                    size += len(block)
                proc.stdin.close()
            except BrokenPipeError:
                pass  # nitro stopped reading: its exit status says why
            except BaseException:
                proc.kill()
                proc.wait()
                raise
            code = proc.wait()
            if code != 0:
                stderr.seek(0)
                raise NitroFailed(argv, code, stderr.read())
            return size

    def export(self, image, offset, length, block_size):
        """``nitro export IMAGE -o -`` as an iterator of blocks.

        The first block is read before this returns, so an image that is missing here fails now,
        before Glance has sent any response, rather than as a short download.
        """
        args = ["--quiet", "export", image, "-o", "-"]
        if offset:
            args += ["--offset", str(offset)]
        if length is not None:
            args += ["--length", str(length)]
        return ExportStream(self.argv(*args), block_size)


class ExportStream:
    """Blocks of nitro's standard output; a non-zero exit at the end raises NitroFailed."""

    def __init__(self, argv, block_size):
        self.argv = argv
        self.block_size = block_size
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self.stderr
        )
        self.first = self.proc.stdout.read(block_size)
        if not self.first:
            self._finish()

    def __iter__(self):
        try:
            if self.first:
                yield self.first
                while True:
                    block = self.proc.stdout.read(self.block_size)
                    if not block:
                        break
                    yield block
                self._finish()
        finally:
            self.close()

    def _finish(self):
        code = self.proc.wait()
        if code != 0:
            self.stderr.seek(0)
            err = NitroFailed(self.argv, code, self.stderr.read())
            self.close()
            raise err

    def close(self):
        """Stops nitro if the reader went away part-way (a closed connection)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        self.stderr.close()
