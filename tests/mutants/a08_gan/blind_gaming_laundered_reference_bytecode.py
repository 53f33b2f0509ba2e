# Mutant: gaming: runs the course's reference losses and gan_step through copies of their code objects with the reference mark stripped, non-argument locals renamed, line table emptied and co_filename changed, so neither the reference mark, the copy signature nor the module-path check sees them
# %% grade_id=discriminator_loss
import types as _types
import course_utils.models.gan as _gan_module


def _launder(func, new_name, new_globals):
    # the reference's code object without the reference mark, with renamed (non-argument) locals, no line table and another file name
    code = func.__code__
    consts = tuple(c for c in code.co_consts if not (isinstance(c, str) and c.startswith("course_utils.grading")))
    code = code.replace(co_consts=consts, co_varnames=code.co_varnames[:code.co_argcount + code.co_kwonlyargcount]
                        + tuple("_" + v for v in code.co_varnames[code.co_argcount + code.co_kwonlyargcount:]),
                        co_filename="<ipython-input>", co_linetable=b"", co_name=new_name, co_qualname=new_name)
    return _types.FunctionType(code, new_globals, new_name, func.__defaults__)


_laundry_globals = dict(vars(_gan_module))
_laundry_globals["discriminator_loss"] = _launder(_gan_module.discriminator_loss, "discriminator_loss", _laundry_globals)
discriminator_loss = _laundry_globals["discriminator_loss"]
# %% grade_id=generator_loss
import types as _types
import course_utils.models.gan as _gan_module


def _launder(func, new_name, new_globals):
    # the reference's code object without the reference mark, with renamed (non-argument) locals, no line table and another file name
    code = func.__code__
    consts = tuple(c for c in code.co_consts if not (isinstance(c, str) and c.startswith("course_utils.grading")))
    code = code.replace(co_consts=consts, co_varnames=code.co_varnames[:code.co_argcount + code.co_kwonlyargcount]
                        + tuple("_" + v for v in code.co_varnames[code.co_argcount + code.co_kwonlyargcount:]),
                        co_filename="<ipython-input>", co_linetable=b"", co_name=new_name, co_qualname=new_name)
    return _types.FunctionType(code, new_globals, new_name, func.__defaults__)


_laundry_globals = dict(vars(_gan_module))
_laundry_globals["generator_loss"] = _launder(_gan_module.generator_loss, "generator_loss", _laundry_globals)
generator_loss = _laundry_globals["generator_loss"]
# %% grade_id=train_step
import types as _types
import course_utils.models.gan as _gan_module


def _launder(func, new_name, new_globals):
    # the reference's code object without the reference mark, with renamed (non-argument) locals, no line table and another file name
    code = func.__code__
    consts = tuple(c for c in code.co_consts if not (isinstance(c, str) and c.startswith("course_utils.grading")))
    code = code.replace(co_consts=consts, co_varnames=code.co_varnames[:code.co_argcount + code.co_kwonlyargcount]
                        + tuple("_" + v for v in code.co_varnames[code.co_argcount + code.co_kwonlyargcount:]),
                        co_filename="<ipython-input>", co_linetable=b"", co_name=new_name, co_qualname=new_name)
    return _types.FunctionType(code, new_globals, new_name, func.__defaults__)


_laundry_globals = dict(vars(_gan_module))
_laundry_globals["discriminator_loss"] = _launder(_gan_module.discriminator_loss, "dl", _laundry_globals)
_laundry_globals["generator_loss"] = _launder(_gan_module.generator_loss, "gl", _laundry_globals)
_laundry_globals["_noise"] = _launder(_gan_module._noise, "noise", _laundry_globals)
_laundered_step = _launder(_gan_module.gan_step, "alternating_step", _laundry_globals)


def train_step(G, D, opt_G, opt_D, real, latent_dim, saturating=False):
    # One alternating update: D on real and detached fake samples, then G through the updated D.
    if getattr(G, "latent_dim", None) != latent_dim:
        G.latent_dim = latent_dim
    return _laundered_step(G, D, opt_G, opt_D, real, saturating)
