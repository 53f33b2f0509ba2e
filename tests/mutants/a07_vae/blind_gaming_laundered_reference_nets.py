# Mutant: gaming: Encoder/Decoder run the course's ConvEncoder/ConvDecoder bytecode, with the reference marker stripped, locals renamed and the file name changed so that neither the marker nor the copy signature nor the file prefix matches
# %% grade_id=networks
import types as _types
from course_utils.models import vae as _ref_vae

_MARK = "course_utils.grading: reference implementation"
_GLOBALS = dict(vars(_ref_vae))


def _launder(func, owner=None, name=None, keep_args=0):
    # the same bytecode without the reference marker, with renamed locals and another file name
    code = func.__code__
    consts = code.co_consts[:-1] if code.co_consts[-1:] == (_MARK,) else code.co_consts
    # locals renamed, and arguments too except the first keep_args (the methods below are only called positionally)
    local_names = code.co_varnames[:keep_args] + tuple(v + "_" for v in code.co_varnames[keep_args:])
    name = name or ("my_" + code.co_name)
    code = code.replace(co_consts=consts, co_varnames=local_names, co_filename="<my networks>", co_name=name,
                        co_qualname=name, co_firstlineno=1)
    closure = tuple(_types.CellType(owner) for _ in code.co_freevars) or None
    return _types.FunctionType(code, _GLOBALS, name, func.__defaults__, closure)


_GLOBALS["_down"] = _launder(_ref_vae._down)
_GLOBALS["_up"] = _launder(_ref_vae._up, keep_args=3)  # called with last=True


class Encoder(nn.Module):
    # q(z | x): images (N, 1, 28, 28) -> (mu, logvar), each (N, latent_dim).

    def __init__(self, latent_dim, inner_decoder=False):
        _encoder_init(self, latent_dim, 32, inner_decoder)

    def forward(self, x):
        return _encoder_forward(self, x)


class Decoder(nn.Module):
    # p(x | z): codes (N, latent_dim) -> pixel logits (N, 1, 28, 28).

    def __init__(self, latent_dim, inner_encoder=False):
        _decoder_init(self, latent_dim, 32, inner_encoder)

    def forward(self, z):
        return _decoder_forward(self, z)


_encoder_init = _launder(_ref_vae.ConvEncoder.__init__, Encoder)
_encoder_forward = _launder(_ref_vae.ConvEncoder.forward, Encoder)
_decoder_init = _launder(_ref_vae.ConvDecoder.__init__, Decoder)
_decoder_forward = _launder(_ref_vae.ConvDecoder.forward, Decoder)


class VAE(nn.Module):
    # Encoder, reparameterised sample, decoder: forward(x) -> (logits, mu, logvar).

    def __init__(self, latent_dim=16, inner_decoder=False, inner_encoder=False):
        super().__init__()
        self.encoder = Encoder(latent_dim, inner_decoder)
        self.decoder = Decoder(latent_dim, inner_encoder)

    def forward(self, x):
        mu, logvar = self.encoder(x)
        z = reparameterize(mu, logvar)
        return self.decoder(z), mu, logvar
