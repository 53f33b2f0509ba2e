# The guard the grader runs inside a student's kernel (see course_utils/grader/execute.py).
#
# This file is not imported: GuardedExecute sends its text to the kernel with a call line, and the
# kernel runs it silently, without history, between the notebook's cells. It holds one function so
# that no name stays behind in the notebook.
#
# Steps:
#   "snapshot"  before every cell that is not a test. The first one, before any notebook code runs,
#               records the pristine state: builtins, the watched modules (imported here), the
#               IPython machinery that runs cells, sys hooks, signal handlers, live threads. Later
#               ones only add modules the notebook imported and module names it bound.
#   "locked"    after a released read-only cell: remembers the values it bound (names the tests use).
#   "test"      before a test cell: puts back everything recorded, refuses to let the test run while
#               a thread the notebook started is alive, and for this cell only gives the names the
#               test reads their released values (modules, read-only helpers, builtins).
#   "after"     after a test cell: gives the student's own names back and forgets the test's source
#               (the line cache IPython keeps for tracebacks).
#
# The record lives in the kernel, so the grader keeps a digest of it (identities of everything
# recorded) and the guard refuses to use a record that changed between its steps.


def __course_guard(step, user, expected, watched, names, digest, student_cell, nonce, preload):
    # The real sys and builtins, reached without any name a notebook could rebind.
    importer = None
    for cls in ().__class__.__base__.__subclasses__():
        if cls.__name__ == "BuiltinImporter" and cls.__module__ == "_frozen_importlib":
            importer = cls
            break
    boot = importer.find_spec.__func__.__globals__
    sys = boot["sys"]
    real_builtins = boot["__builtins__"]  # the builtins module's dict
    state = sys.modules.get("_course_grader_state")

    def fingerprint(record):
        items = []
        for name, (module, saved) in record.modules.items():
            items.append((name, id(module), id(saved)))
            items.extend((name, key, id(value)) for key, value in saved.items())
        items.extend(("=binding", key, id(value)) for key, value in record.bindings.items())
        items.extend(("=locked", key, id(value)) for key, value in record.locked.items())
        items.extend(("=object", str(index), id(obj), id(saved)) for index, (obj, saved) in enumerate(record.objects))
        for index, (obj, saved) in enumerate(record.objects):
            items.extend(("=object", str(index), key, id(value)) for key, value in saved.items())
        items.extend(("=list", str(index), id(obj), tuple(map(id, saved))) for index, (obj, saved) in enumerate(record.lists))
        items.extend(("=sys", key, id(value)) for key, value in record.sys_hooks.items())
        items.extend(("=signal", str(key), id(value)) for key, value in record.signals.items())
        for cls, saved in record.classes.items():
            items.append(("=class", id(cls), id(saved)))
            items.extend(("=class", key, id(value)) for key, value in saved.items())
        items.append(("=hook", id(record.hook)))
        return str(hash(tuple(items)))

    if digest is not None and (state is None or getattr(state, "fingerprint", None) is None
                               or state.fingerprint(state) != digest):
        return {"problem": "the grader's record of the notebook's starting state was changed by the notebook's code",
                "digest": digest, "nonce": nonce}

    builtins = sys.modules.get("builtins")
    if state is not None and step == "test":  # builtins first, with dict operations only
        saved = state.modules["builtins"][1]
        for key, value in saved.items():
            if real_builtins.get(key, state) is not value:
                real_builtins[key] = value
        sys.modules["builtins"] = state.modules["builtins"][0]
    import gc
    import types

    def is_module(value):
        try:
            return types.ModuleType in value.__class__.__mro__
        except Exception:
            return False

    def function_like(value):
        return callable(value) or isinstance(value, (staticmethod, classmethod, property))

    if state is None:  # the first step: record the pristine kernel
        import importlib
        import signal
        import threading

        state = types.ModuleType("_course_grader_state")
        state.modules, state.bindings, state.locked, state.swapped = {}, {}, {}, {}
        state.objects, state.lists, state.classes, state.sys_hooks, state.signals = [], [], {}, {}, {}
        state.events, state.in_guard, state.student_running = [], [False], [False]
        state.fingerprint = fingerprint
        for name in preload:  # the watched modules this notebook uses, imported before any of its code runs
            try:
                importlib.import_module(name)
            except Exception:
                pass
        state.threads = set(sys._current_frames())
        state.cache_keys = set()
        shell = None
        core = sys.modules.get("IPython.core.interactiveshell")
        if core is not None and core.InteractiveShell.initialized():
            shell = core.InteractiveShell.instance()
        roots = [sys.stdout, sys.stderr]
        if shell is not None:
            roots += [shell, getattr(shell, "kernel", None), getattr(getattr(shell, "kernel", None), "session", None),
                      shell.displayhook, shell.display_pub, shell.compile, shell.input_transformer_manager,
                      shell.events, shell.history_manager, getattr(shell, "InteractiveTB", None),
                      getattr(shell, "SyntaxTB", None), getattr(shell, "hooks", None)]
            state.lists += [(shell.input_transformers_post, list(shell.input_transformers_post)),
                            (shell.ast_transformers, list(shell.ast_transformers))]
            manager = shell.input_transformer_manager
            for attr in ("cleanup_transforms", "line_transforms", "token_transformers"):
                value = getattr(manager, attr, None)
                if value.__class__ is list:
                    state.lists.append((value, list(value)))
            for callbacks in shell.events.callbacks.values():
                state.lists.append((callbacks, list(callbacks)))
        for obj in roots:
            if obj is None:
                continue
            # methods and callables only: headers and other data the kernel replaces as it runs stay as they are
            saved = {k: v for k, v in vars(obj).items() if callable(v)}
            values = vars(obj).get("_trait_values")
            if values.__class__ is dict:
                saved.update({("trait", k): v for k, v in values.items() if callable(v) or k == "ast_transformers"})
            state.objects.append((obj, saved))
            for cls in type(obj).__mro__:
                if cls.__module__.split(".")[0] in ("IPython", "ipykernel", "jupyter_client", "comm", "zmq", "traitlets"):
                    state.classes.setdefault(cls, {k: v for k, v in vars(cls).items() if function_like(v)})
        state.lists += [(sys.meta_path, list(sys.meta_path)), (sys.path_hooks, list(sys.path_hooks)), (gc.callbacks, list(gc.callbacks))]
        for key in ("excepthook", "displayhook", "breakpointhook", "unraisablehook", "stdout", "stderr", "stdin"):
            state.sys_hooks[key] = getattr(sys, key)
        for signum in signal.valid_signals():
            try:
                state.signals[signum] = signal.getsignal(signum)
            except (ValueError, OSError):
                pass
        state.signal, state.threading = signal, threading

        # An audit hook, installed before any notebook code: it refuses new audit hooks (they would run the
        # notebook's code in the middle of a test) and notes what no honest answer does.
        watched_events = {"sys.settrace", "sys.setprofile", "gc.get_objects", "gc.get_referrers", "gc.get_referents",
                          "os.fork", "os.forkpty", "os.posix_spawn", "os.system", "os.exec", "os.kill", "os.killpg",
                          "subprocess.Popen", "signal.pthread_kill"}
        # reported only when the notebook's own code does them (libraries and IPython's tracebacks do them too)
        direct_events = {"object.__getattr__", "object.__setattr__", "function.__new__", "code.__new__"}
        frame_attrs = {"tb_frame", "gi_frame", "cr_frame", "ag_frame", "f_back", "f_locals", "f_globals", "f_code"}
        own_file = __course_guard.__code__.co_filename  # cells are compiled to files in one folder (ipykernel)
        cell_folder = own_file.rpartition("/")[0] + "/" if "/" in own_file else "<"
        state.cell_folder = cell_folder
        getframe = sys._getframe

        def hook(event, args, record=state.events, busy=state.in_guard, student=state.student_running):
            if event == "sys.addaudithook":
                raise RuntimeError("the grader does not allow new audit hooks")
            if busy[0] or not student[0] or len(record) >= 100:
                return
            if event in direct_events:
                if event == "object.__getattr__" and (len(args) < 2 or args[1] not in frame_attrs):
                    return
                if event == "object.__setattr__" and (len(args) < 2 or args[1] != "__code__"):
                    return
                busy[0] = True  # sys._getframe is audited too
                try:
                    caller = getframe(1).f_code.co_filename
                finally:
                    busy[0] = False
                if not (caller.startswith(cell_folder) or caller.startswith("<")):
                    return
                detail = f"{event} {args[1]}" if event.startswith("object.") else event
            elif event in watched_events or event[:7] == "ctypes.":
                detail = event
            else:
                return
            if detail not in record:
                record.append(detail)

        sys.addaudithook(hook)
        state.hook = hook
        sys.modules["_course_grader_state"] = state
        for name in watched:
            module = sys.modules.get(name)
            if module is not None and is_module(module):
                state.modules[name] = (module, dict(vars(module)))

    state.in_guard[0] = True
    state.student_running[0] = False
    result = {}
    try:
        for name in watched:  # modules imported since the last step
            module = sys.modules.get(name)
            if name not in state.modules and module is not None and is_module(module):
                state.modules[name] = (module, dict(vars(module)))
        for key, value in list(user.items()):
            if not key.startswith("_") and key not in state.bindings and is_module(value):
                state.bindings[key] = value

        if step == "snapshot":
            gc.enable()
            state.threads_before = set(sys._current_frames())
            result["events"] = list(state.events)
            del state.events[:]
            state.student_running[0] = bool(student_cell)
        elif step == "locked":  # a released cell ran: what it bound is what the tests may use
            for key in names:
                if key in user:
                    state.locked[key] = user[key]
            state.threads |= set(sys._current_frames()) - getattr(state, "threads_before", set())
        elif step == "after":
            for key, value in state.swapped.items():
                if value is state:
                    user.pop(key, None)
                else:
                    user[key] = value
            state.swapped = {}
            import linecache

            shell_compile = None
            core = sys.modules.get("IPython.core.interactiveshell")
            if core is not None and core.InteractiveShell.initialized():
                shell_compile = core.InteractiveShell.instance().compile
            for key in set(linecache.cache) - state.cache_keys:  # the test's source, kept for tracebacks
                linecache.cache.pop(key, None)
                if shell_compile is not None:
                    getattr(shell_compile, "_filename_map", {}).pop(key, None)
            gc.enable()
        elif step == "test":
            problem = None
            # undo changes to the watched modules
            for name, (module, saved) in state.modules.items():
                sys.modules[name] = module
                namespace = module.__dict__
                for key, value in saved.items():
                    if namespace.get(key, state) is not value:
                        namespace[key] = value
            # the machinery that runs cells: transformers, hooks, patched methods
            for obj, saved in state.objects:
                namespace = vars(obj)
                traits = namespace.get("_trait_values")
                for key, value in saved.items():
                    if key.__class__ is tuple:
                        if traits.__class__ is dict and traits.get(key[1], state) is not value:
                            traits[key[1]] = value
                    elif namespace.get(key, state) is not value:
                        namespace[key] = value
                for key in [k for k, v in namespace.items() if k not in saved and callable(v)]:
                    del namespace[key]
            for cls, saved in state.classes.items():
                for key, value in saved.items():
                    if cls.__dict__.get(key, state) is not value:
                        try:
                            setattr(cls, key, value)
                        except (AttributeError, TypeError):
                            pass
                for key in [k for k, v in cls.__dict__.items() if k not in saved and function_like(v)]:
                    try:
                        delattr(cls, key)
                    except (AttributeError, TypeError):
                        pass
            for obj, saved in state.lists:
                if len(obj) != len(saved) or any(a is not b for a, b in zip(obj, saved)):
                    obj[:] = saved
            sys.path_importer_cache.clear()
            for key, value in state.sys_hooks.items():
                setattr(sys, key, value)
            sys.settrace(None)
            sys.setprofile(None)
            state.threading.settrace(None)
            state.threading.setprofile(None)
            signal = state.signal
            for timer in (signal.ITIMER_REAL, signal.ITIMER_VIRTUAL, signal.ITIMER_PROF):
                signal.setitimer(timer, 0)
            for signum, handler in state.signals.items():
                if handler is not None and signal.getsignal(signum) is not handler:
                    try:
                        signal.signal(signum, handler)
                    except (ValueError, OSError, TypeError):
                        pass
            # finalizers of the notebook's garbage run now, not in the middle of the test
            gc.collect()
            gc.disable()
            # threads running the notebook's own code must not run while the test does (library threads, such
            # as IPython's output threads or tqdm's monitor, are fine)
            def notebooks(code):
                name = getattr(code, "co_filename", "") or ""
                return name.startswith(state.cell_folder) or (name.startswith("<") and not name.startswith("<frozen"))

            threads = state.threading._active
            for ident, frame in sys._current_frames().items():
                if ident in state.threads:
                    continue
                suspect = False
                while frame is not None and not suspect:
                    suspect = notebooks(frame.f_code)
                    frame = frame.f_back
                thread = threads.get(ident)
                for func in (getattr(thread, "_target", None), getattr(thread, "function", None),
                             getattr(type(thread), "run", None)):
                    func = getattr(func, "__func__", func)
                    suspect = suspect or notebooks(getattr(func, "__code__", None))
                if suspect:
                    problem = "a thread the notebook started is still running, so the test could not run unobserved"
            # the course's own modules: reload those that were patched, re-import those that were swapped
            import importlib
            import os

            def genuine(name):
                module = sys.modules.get(name)
                return is_module(module) and os.path.realpath(getattr(module, "__file__", None) or "") == expected[name][0]

            def tampered(name):
                module = sys.modules[name]
                for attr in expected[name][1]:
                    obj = module.__dict__.get(attr)
                    if getattr(obj, "__module__", None) != name or getattr(obj, "__qualname__", None) != attr:
                        return True
                    code = getattr(obj, "__code__", None)
                    if code is not None and os.path.realpath(code.co_filename) != expected[name][0]:
                        return True
                return False

            loaded = [n for n in expected if n in sys.modules or n in ("course_utils", "course_utils.grading")]
            if all(genuine(n) for n in loaded if n in sys.modules):
                for name in loaded:
                    if name not in sys.modules:
                        importlib.import_module(name)
                    elif name == "course_utils.grading" or tampered(name):
                        importlib.reload(sys.modules[name])
            else:  # a module object was swapped: start the whole package afresh
                for name in [n for n in sys.modules if n == "course_utils" or n.startswith("course_utils.")]:
                    del sys.modules[name]
                for name in loaded:
                    importlib.import_module(name)
            for name in loaded:
                parent, _, child = name.rpartition(".")
                if parent:
                    setattr(sys.modules[parent], child, sys.modules[name])
            # for the test cell only: its names get their released values, and notebook globals that hide a
            # builtin step aside; "after" gives them back
            builtin_names = state.modules["builtins"][1]
            for key in names:
                current = user.get(key, state)
                if key in state.bindings and current is not state.bindings[key]:
                    state.swapped.setdefault(key, current)
                    user[key] = state.bindings[key]
                elif key in state.locked and current is not state.locked[key]:
                    state.swapped.setdefault(key, current)
                    user[key] = state.locked[key]
                elif key in builtin_names and current is not state and current is not builtin_names[key]:
                    state.swapped.setdefault(key, current)
                    del user[key]
            import linecache

            state.cache_keys = set(linecache.cache)
            result["events"] = list(state.events)
            del state.events[:]
            if problem:
                result["problem"] = problem
    finally:
        state.in_guard[0] = False
        cache = sys.modules.get("linecache")
        if cache is not None:  # this snippet's own source, kept by IPython like any cell's
            cache.cache.pop(__course_guard.__code__.co_filename, None)
    result["digest"] = state.fingerprint(state)
    result["nonce"] = nonce  # proves to the grader that this step really ran
    return result


__course_guard_result = __course_guard(__STEP__, __course_guard.__globals__, __EXPECTED__, __WATCHED__, __NAMES__,
                                       __DIGEST__, __STUDENT__, __NONCE__, __PRELOAD__)
del __course_guard
