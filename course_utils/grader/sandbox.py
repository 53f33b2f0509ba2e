"""Each student's kernel runs in a bubblewrap sandbox.

nbgrader runs a student's notebook in a Jupyter kernel that, left alone, has
the grader's rights: it can read ``solutions/`` and the gradebook, overwrite
other students' submissions, use the network and leave processes running after
grading. Here the kernel is started through `bubblewrap
<https://github.com/containers/bubblewrap>`_ (Debian's ``bubblewrap``), the
sandbox Flatpak uses, as the kernel's command prefix
(:class:`SandboxedKernelManager`). Inside it the kernel sees only:

* the runtime, read-only: the system's programs and libraries (``/usr``), the
  Python installation, the virtual environment and the ``course_utils``
  package (not the rest of the repository);
* a private copy of its own submission folder (``/submission``, its working
  folder; the notebook files themselves are not copied: the grader sends the
  cells), and empty private ``/tmp`` and home folders of limited size;
* the folder holding the kernel's connection sockets. There is no network
  (``--unshare-net``), so the kernel talks to the grader over Unix sockets
  (Jupyter's ``ipc`` transport) instead of TCP.

It runs as an unprivileged user in its own PID namespace, with limits on
memory (``RLIMIT_DATA``), processes (``RLIMIT_NPROC``) and file size.
Everything it starts lives in that namespace: when the kernel ends (or its
grader dies: ``--die-with-parent``) the namespace and every process in it are
killed, detached ones included, and :meth:`SandboxedKernelManager.cleanup_resources`
kills whatever is left before it deletes the private folders.

Where bubblewrap is missing or cannot create namespaces (macOS, Windows, some
containers), the kernel refuses to start unless the sandbox is switched off on
purpose (``--unsandboxed`` on the grader's command line, or
``c.SandboxedKernelManager.enabled = False``).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from jupyter_client.manager import AsyncKernelManager
from traitlets import Bool, Integer, Unicode

RISK = ("grading WITHOUT a sandbox: student code runs with your rights, so it can read the solutions and the "
        "gradebook, change other students' files, use the network and keep running after grading")
WORKDIR = "/submission"  # the kernel's working folder inside the sandbox
HOME = "/home/student"
# Environment variables a kernel may inherit from the grader; everything else (database URLs with
# passwords, tokens, paths of the grader's files) stays outside.
PASSED_ENV = ("NBGRADER_EXECUTION", "NBGRADER_VALIDATING", "COURSE_FAST", "COURSE_DEVICE", "OMP_NUM_THREADS",
              "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "TZ")
# Files of /etc that programs need to start; the rest of /etc is not visible.
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "nsswitch.conf", "passwd", "group", "hosts",
             "mime.types", "alternatives", "fonts", "ssl/openssl.cnf")
# A kernel's sockets are Unix sockets in its private folder; Linux allows a socket path of 107 bytes.
SOCKET_PATH_MAX = 107
SANDBOX_FOLDER_NAME = "course-sandbox-xxxxxxxx"  # what tempfile.mkdtemp makes of the prefix below
SOCKET_IN_FOLDER = "kernel/ipc-5"  # the longest socket path below a kernel's private folder


def socket_path_problem(parent: Path | str) -> str | None:
    """Why kernels' private folders cannot be made in ``parent`` (their socket paths would be too long), or None."""
    longest = Path(parent) / SANDBOX_FOLDER_NAME / SOCKET_IN_FOLDER
    size = len(os.fsencode(str(longest)))
    if size <= SOCKET_PATH_MAX:
        return None
    return (f"the sandboxes' sockets would have paths of {size} bytes (below {parent}); Unix sockets allow "
            f"{SOCKET_PATH_MAX}. Point TMPDIR at a shorter folder, such as /tmp")


SANDBOX_UID_BASE = 200_000  # as root, each kernel runs as its own unprivileged uid: 200000 + a number

# Runs first inside the sandbox: set the limits, drop to an unprivileged user when the sandbox starts as
# root, then become the kernel. Kept to the standard library; it runs with -I -S.
LIMITS_SHIM = r"""
import json, os, resource, sys
spec = json.loads(sys.argv[1])
for name, value in spec["limits"].items():
    which = getattr(resource, name)
    hard = resource.getrlimit(which)[1]
    value = value if hard == resource.RLIM_INFINITY else min(value, hard)  # never above what this user may have
    resource.setrlimit(which, (value, value))
if spec["uid"] is not None:
    os.setgroups([])
    os.setresgid(spec["uid"], spec["uid"], spec["uid"])
    os.setresuid(spec["uid"], spec["uid"], spec["uid"])
os.execv(sys.argv[2], sys.argv[2:])
"""


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot create a sandbox on this machine."""


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


@functools.lru_cache(maxsize=None)
def sandbox_problem() -> str | None:
    """Why kernels cannot be sandboxed here, or None when bubblewrap works."""
    if not sys.platform.startswith("linux"):
        return f"the sandbox (bubblewrap) needs Linux; this is {sys.platform}"
    bwrap = bwrap_path()
    if bwrap is None:
        return "bubblewrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    command = [bwrap, *_namespace_args(), "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "--", "true"]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as err:
        return f"bubblewrap does not run: {err}"
    if result.returncode != 0:
        reason = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else f"exit status {result.returncode}"
        return f"bubblewrap cannot create a sandbox here ({reason})"
    return None


def _namespace_args() -> list[str]:
    """New PID, network, IPC and UTS namespaces; as a normal user also a user namespace (bwrap needs it)."""
    args = ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try", "--die-with-parent"]
    if os.geteuid() == 0:
        # As root no user namespace: the shim switches to an unprivileged uid itself, so that the process
        # limit applies (Linux does not apply RLIMIT_NPROC to root). Only the two capabilities it needs.
        args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        args += ["--unshare-user", "--disable-userns"]
    return args


def runtime_paths() -> list[Path]:
    """What the kernel may read: the Python installation, the virtual environment and the course_utils package."""
    import course_utils

    paths = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(), Path(sys.exec_prefix).resolve(),
             Path(sys.executable).resolve().parent, Path(course_utils.__file__).resolve().parent}
    # the interpreter a venv points to may live elsewhere (pyenv, uv): follow bin/python's link
    for name in ("python", "python3"):
        link = Path(sys.prefix) / "bin" / name
        if link.exists():
            paths.add(link.resolve().parent.parent)
    top = [p for p in paths if str(p) not in ("/", "/usr")]
    # drop paths inside others
    return sorted(p for p in top if not any(p != q and p.is_relative_to(q) for q in top))


def _data_dir() -> Path:
    """The grader's dataset cache (course_utils.data.data_dir), shown read-only inside the sandbox."""
    return Path(os.environ.get("COURSE_DATA_DIR") or Path.home() / ".cache" / "course_utils" / "data")


def _ancestors(path: Path) -> list[Path]:
    return [p for p in reversed(path.parents) if str(p) != "/"]


def build_command(kernel_argv: list[str], *, workdir: Path, runtime_dir: Path, limits: dict[str, int],
                  uid: int | None, tmp_bytes: int, env: dict[str, str] | None = None) -> list[str]:
    """The bwrap command line that runs ``kernel_argv`` in the sandbox."""
    env = dict(os.environ if env is None else env)
    bwrap = bwrap_path()
    if bwrap is None:
        raise SandboxUnavailable(sandbox_problem() or "bubblewrap is not installed")
    args = [bwrap, *_namespace_args()]
    for name in ("usr",):
        args += ["--ro-bind", f"/{name}", f"/{name}"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/") / name
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    for folder in ("/etc", "/etc/ssl", "/var", "/var/cache"):
        args += ["--perms", "0755", "--dir", folder]  # bwrap would make them 0700: unreadable for the kernel's user
    for name in ETC_FILES:
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    args += ["--ro-bind-try", "/var/cache/fontconfig", "/var/cache/fontconfig"]
    args += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--size", str(tmp_bytes), "--tmpfs", "/tmp",
             "--perms", "1777", "--size", str(tmp_bytes), "--tmpfs", "/dev/shm"]
    made: set[Path] = set()
    mounts = [(p, "--ro-bind") for p in runtime_paths()] + [(runtime_dir, "--bind")]
    for path, how in mounts:
        for parent in _ancestors(path):
            if parent not in made:  # bwrap would create these 0700, unreadable for the sandbox's user
                args += ["--perms", "0755", "--dir", str(parent)]
                made.add(parent)
        args += [how, str(path), str(path)]
    args += ["--perms", "0755", "--dir", "/home", "--perms", "1777", "--size", str(tmp_bytes), "--tmpfs", HOME,
             "--bind", str(workdir), WORKDIR, "--chdir", WORKDIR]
    data = _data_dir()
    inner_data = f"{HOME}/.cache/course_utils/data"
    for folder in (f"{HOME}/.cache", f"{HOME}/.cache/course_utils", inner_data, f"{HOME}/.config"):
        args += ["--perms", "1777", "--dir", folder]  # writable for the kernel's user
    if data.is_dir():  # datasets the grader already has, read-only; new ones are written in the private home
        for child in sorted(data.iterdir()):
            if child.is_dir() and not child.is_symlink():
                args += ["--ro-bind", str(child), f"{inner_data}/{child.name}"]
    import course_utils

    package_parent = str(Path(course_utils.__file__).resolve().parent.parent)
    inner_env = {
        "PATH": f"{Path(sys.prefix) / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        "HOME": HOME, "USER": "student", "LOGNAME": "student", "TMPDIR": "/tmp", "LANG": "C.UTF-8",
        "MPLBACKEND": "Agg", "MPLCONFIGDIR": f"{HOME}/.config/matplotlib", "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONPATH": package_parent,  # holds only course_utils inside the sandbox
        "COURSE_DATA_DIR": inner_data, "COURSE_OFFLINE": "1",  # no network: do not try to download
        "JPY_PARENT_PID": "1",  # ipykernel: no parent poller (the sandbox ends with its grader) and no console banner
    }
    inner_env.update({k: env[k] for k in PASSED_ENV if k in env})
    args.append("--clearenv")
    for key, value in inner_env.items():
        args += ["--setenv", key, value]
    spec = json.dumps({"limits": limits, "uid": uid})
    python = str(Path(sys.executable))
    return [*args, "--", python, "-I", "-S", "-c", LIMITS_SHIM, spec, *kernel_argv]


def kill_tree(root) -> int:
    """SIGKILL the process ``root`` (a psutil.Process) and all its descendants; return how many were killed."""
    import psutil

    if root is None:
        return 0
    try:
        family = root.children(recursive=True) + [root] if root.is_running() else []
    except psutil.NoSuchProcess:
        return 0
    killed = 0
    for process in family:
        try:
            process.send_signal(signal.SIGKILL)
            killed += 1
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(family, timeout=5)
    return killed


def _copy_submission(source: Path, target: Path, uid: int | None) -> None:
    """Copy the submission folder's regular files (not notebooks, not links) into the sandbox's working folder."""
    target.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        for path in sorted(source.rglob("*")):
            relative = path.relative_to(source)
            if path.is_symlink() or path.suffix == ".ipynb" or any(part.startswith(".ipynb_checkpoints") for part in relative.parts):
                continue
            if path.is_dir():
                (target / relative).mkdir(parents=True, exist_ok=True)
            elif path.is_file():
                (target / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target / relative, follow_symlinks=False)
    if uid is not None:
        for path in [target, *target.rglob("*")]:
            os.chown(path, uid, uid, follow_symlinks=False)


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager that starts the kernel in a bubblewrap sandbox (see the module docstring)."""

    enabled = Bool(True, help="Run the kernel in a bubblewrap sandbox; False runs it with the grader's rights.").tag(config=True)
    memory_mb = Integer(6144, help="Address space the kernel's processes may allocate (RLIMIT_DATA), MiB.").tag(config=True)
    processes = Integer(512, help="Processes and threads the sandbox's user may run (RLIMIT_NPROC).").tag(config=True)
    file_mb = Integer(1024, help="Largest file the kernel may write (RLIMIT_FSIZE), MiB.").tag(config=True)
    tmp_mb = Integer(1024, help="Size of each of the sandbox's private /tmp and home folders, MiB.").tag(config=True)
    tmp_parent = Unicode("", help="Where the sandbox's private folders are created (default: the system's temp folder).").tag(config=True)

    _sandbox_dir: Path | None = None
    _sandbox_uid: int | None = None
    _sandbox_process: Any = None  # psutil.Process of bwrap: it knows its start time, so a reused pid is never killed

    @property
    def sandbox_dir(self) -> Path | None:
        """The private folder of this kernel: connection files, sockets and the working copy (None when unsandboxed)."""
        return self._sandbox_dir

    async def _async_pre_start_kernel(self, **kw: Any):
        if not self.enabled:
            return await super()._async_pre_start_kernel(**kw)
        problem = sandbox_problem()
        if problem:
            raise SandboxUnavailable(f"{problem}; grading refuses to run student code unsandboxed "
                                     "unless asked to (--unsandboxed)")
        parent = Path(self.tmp_parent or tempfile.gettempdir()).resolve()
        if problem := socket_path_problem(parent):  # zmq's own error would only say "File name too long"
            raise SandboxUnavailable(problem)
        self._sandbox_dir = Path(tempfile.mkdtemp(prefix="course-sandbox-", dir=parent))
        os.chmod(self._sandbox_dir, 0o711)
        sockets = self._sandbox_dir / "kernel"
        sockets.mkdir()
        self._sandbox_uid = SANDBOX_UID_BASE + os.getpid() % 100_000 if os.geteuid() == 0 else None
        if self._sandbox_uid is not None:
            os.chown(sockets, self._sandbox_uid, self._sandbox_uid)
        source = Path(kw.get("cwd") or os.getcwd())
        _copy_submission(source, self._sandbox_dir / "work", self._sandbox_uid)
        self.transport = "ipc"
        self.connection_file = str(sockets / "connection.json")
        self.ip = str(sockets / "ipc")
        kw["cwd"] = str(self._sandbox_dir)  # where bwrap itself starts; the kernel starts in WORKDIR
        return await super()._async_pre_start_kernel(**kw)

    def write_connection_file(self, **kwargs: Any) -> None:
        super().write_connection_file(**kwargs)
        if self._sandbox_uid is not None and self.connection_file and os.path.exists(self.connection_file):
            os.chown(self.connection_file, self._sandbox_uid, self._sandbox_uid)  # the kernel reads it as its own user

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        argv = super().format_kernel_cmd(extra_arguments)
        if not self.enabled or self._sandbox_dir is None:
            return argv
        mib = 1024 * 1024
        limits = {"RLIMIT_DATA": self.memory_mb * mib, "RLIMIT_NPROC": self.processes,
                  "RLIMIT_FSIZE": self.file_mb * mib, "RLIMIT_CORE": 0}
        return build_command(argv, workdir=self._sandbox_dir / "work", runtime_dir=self._sandbox_dir / "kernel",
                             limits=limits, uid=self._sandbox_uid, tmp_bytes=self.tmp_mb * mib)

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
        if self.enabled and self._sandbox_dir is not None:
            env = dict(kw.get("env") or os.environ)
            env.pop("JPY_PARENT_PID", None)  # inside the PID namespace the parent is bwrap's init, not the grader
            kw["env"] = env
        await super()._async_launch_kernel(kernel_cmd, **kw)
        pid = getattr(self.provisioner, "pid", None)
        if pid:
            import psutil

            try:
                self._sandbox_process = psutil.Process(pid)
            except psutil.NoSuchProcess:
                self._sandbox_process = None

    def kill_sandbox(self) -> int:
        """Kill the kernel and every process it started; return how many processes were killed."""
        return kill_tree(self._sandbox_process)

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        try:
            await super()._async_cleanup_resources(restart=restart)
        finally:
            if not restart:
                self.kill_sandbox()
                if self._sandbox_dir is not None:
                    shutil.rmtree(self._sandbox_dir, ignore_errors=True)
                    self._sandbox_dir = None

    cleanup_resources = _async_cleanup_resources  # type: ignore[assignment]
