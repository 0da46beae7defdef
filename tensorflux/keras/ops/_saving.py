"""Which Keras 3 op class each keras.ops function is in a `.keras` file, and how its arguments
split between the class's config and its node's call arguments; the allowlist loading uses.

Keras 3 writes a `keras.ops.sum(x, axis=-1, keepdims=True)` node of a Functional model as
`{"module": "keras.src.ops.numpy", "class_name": "Sum", "config": {"name": "sum", "axis": -1,
"keepdims": true}}` with `x` in the node's `args`: the class's constructor takes some of the
function's arguments (its config, defaults included) and its call the others (tensors, and
whatever else Keras passes there: `ops.take`'s indices, `ops.add`'s Python scalar). The table
below records that split for every op tensorflux provides (read from Keras 3.15's
`keras/src/ops/*.py`), so that files go both ways. A class name in a file resolves to an op
only through this table: no module or attribute a file names is ever imported or looked up.
"""

import ast
import functools
import inspect
import re

__all__ = ["OpSpec", "op_spec", "op_classes", "op_class_for", "check_representable",
           "split_arguments", "function_arguments"]

# One row per op: `name  module.Class  config arguments  ->  call arguments`.
#   config `key` is the function's argument `key`; `key=literal` is an argument of Keras's
#   class that tensorflux's function does not take, always that value.
#   call `p` goes positionally, `p=` as a keyword, `*p` spreads, `**p` merges keywords.
#   An indented line continues the row above it.
# Ops with no config and one or two call arguments are listed compactly after the table.
_TABLE = """
cast                core.Cast               dtype                   -> x
saturate_cast       core.SaturateCast       dtype                   -> x
scatter             core.Scatter            shape                   -> indices values
scatter_update      core.ScatterUpdate      reduction=None          -> inputs indices updates
slice               core.Slice              shape                   -> inputs start_indices
slice_update        core.SliceUpdate                                -> inputs start_indices updates
unstack             core.Unstack            num axis                -> x
isclose             numpy.Isclose           equal_nan               -> x1 x2 rtol atol
round               numpy.Round             decimals                -> x
clip                numpy.Clip              x_min x_max             -> x
nan_to_num          numpy.NanToNum          nan posinf neginf       -> x
where               numpy.Where                                     -> condition x1 x2
select              numpy.Select                                    -> condlist choicelist default
sum                 numpy.Sum               axis keepdims           -> x
prod                numpy.Prod              axis keepdims dtype     -> x
mean                numpy.Mean              axis keepdims           -> x
max                 numpy.Max               axis keepdims initial   -> x
min                 numpy.Min               axis keepdims initial   -> x
amax                numpy.Amax              axis keepdims           -> x
amin                numpy.Amin              axis keepdims           -> x
std                 numpy.Std               axis keepdims           -> x
var                 numpy.Var               axis keepdims           -> x
all                 numpy.All               axis keepdims           -> x
any                 numpy.Any               axis keepdims           -> x
count_nonzero       numpy.CountNonzero      axis                    -> x
average             numpy.Average           axis                    -> x weights=
argmax              numpy.Argmax            axis keepdims           -> x
argmin              numpy.Argmin            axis keepdims           -> x
argsort             numpy.Argsort           axis                    -> x
sort                numpy.Sort              axis                    -> x
cumsum              numpy.Cumsum            axis dtype              -> x
cumprod             numpy.Cumprod           axis dtype              -> x
diff                numpy.Diff              n axis                  -> a
tensordot           numpy.Tensordot         axes                    -> x1 x2
einsum              numpy.Einsum            subscripts              -> *operands **kwargs
trace               numpy.Trace             offset axis1 axis2      -> x
reshape             numpy.Reshape           newshape                -> x
transpose           numpy.Transpose         axes                    -> x
expand_dims         numpy.ExpandDims        axis                    -> x
squeeze             numpy.Squeeze           axis                    -> x
moveaxis            numpy.Moveaxis          source destination      -> x
swapaxes            numpy.Swapaxes          axis1 axis2             -> x
broadcast_to        numpy.BroadcastTo       shape                   -> x
concatenate         numpy.Concatenate       axis                    -> xs
append              numpy.Append            axis                    -> x1 x2
stack               numpy.Stack             axis                    -> x
vstack              numpy.Vstack                                    -> xs
hstack              numpy.Hstack                                    -> xs
split               numpy.Split             indices_or_sections axis -> x
tile                numpy.Tile              repeats                 -> x
repeat              numpy.Repeat            repeats axis            -> x
flip                numpy.Flip              axis                    -> x
roll                numpy.Roll              shift axis              -> x
pad                 numpy.Pad               pad_width mode          -> x constant_values=
take                numpy.Take              axis                    -> x indices
take_along_axis     numpy.TakeAlongAxis     axis                    -> x indices
get_item            numpy.GetItem                                   -> x key
tril                numpy.Tril              k                       -> x
triu                numpy.Triu              k                       -> x
diag                numpy.Diag              k                       -> x
diagonal            numpy.Diagonal          offset axis1 axis2      -> x
zeros_like          numpy.ZerosLike         dtype                   -> x
ones_like           numpy.OnesLike          dtype                   -> x
empty_like          numpy.EmptyLike         dtype                   -> x
full_like           numpy.FullLike          dtype                   -> x fill_value
array               numpy.Array             dtype                   -> x
view                numpy.View              dtype                   -> x
argpartition        numpy.Argpartition      kth axis                -> x
array_split         numpy.ArraySplit        indices_or_sections axis -> x
hsplit              numpy.Hsplit            indices_or_sections     -> x
vsplit              numpy.Vsplit            indices_or_sections     -> x
dsplit              numpy.Dsplit            indices_or_sections     -> x
rot90               numpy.Rot90             k axes                  -> array
diagflat            numpy.Diagflat          k                       -> x
vander              numpy.Vander            N increasing            -> x
unravel_index       numpy.UnravelIndex      shape                   -> indices
correlate           numpy.Correlate         mode                    -> x1 x2
cross               numpy.Cross             axisa axisb axisc axis  -> x1 x2
trapezoid           numpy.Trapezoid         x dx axis               -> y
bitwise_and         numpy.BitwiseAnd                                -> x y
bitwise_or          numpy.BitwiseOr                                 -> x y
bitwise_xor         numpy.BitwiseXor                                -> x y
bitwise_left_shift  numpy.BitwiseLeftShift                          -> x y
bitwise_right_shift numpy.BitwiseRightShift                         -> x y
left_shift          numpy.LeftShift                                 -> x y
right_shift         numpy.RightShift                                -> x y
nansum              numpy.Nansum            axis keepdims           -> x
nanprod             numpy.Nanprod           axis keepdims           -> x
nanmax              numpy.Nanmax            axis keepdims           -> x
nanmin              numpy.Nanmin            axis keepdims           -> x
nanmean             numpy.Nanmean           axis keepdims           -> x
nanvar              numpy.Nanvar            axis keepdims           -> x
nanstd              numpy.Nanstd            axis keepdims           -> x
nanargmax           numpy.Nanargmax         axis keepdims           -> x
nanargmin           numpy.Nanargmin         axis keepdims           -> x
nanmedian           numpy.Nanmedian         axis keepdims           -> x
median              numpy.Median            axis keepdims           -> x
ptp                 numpy.Ptp               axis keepdims           -> x
nancumsum           numpy.Nancumsum         axis dtype              -> x
nancumprod          numpy.Nancumprod        axis dtype              -> x
quantile            numpy.Quantile          axis method keepdims    -> x q
nanquantile         numpy.Nanquantile       axis method keepdims    -> x q
percentile          numpy.Percentile        axis method keepdims    -> x q
nanpercentile       numpy.Nanpercentile     axis method keepdims    -> x q
searchsorted        numpy.SearchSorted      side                    -> sorted_sequence values
digitize            numpy.Digitize                                  -> x bins
isin                numpy.IsIn              assume_unique invert    -> x1 x2
bincount            numpy.Bincount          weights minlength sparse -> x
histogram           numpy.Histogram         bins range              -> x
unique numpy.Unique sorted return_index return_inverse return_counts axis size fill_value -> x
geomspace           numpy.Geomspace         num endpoint dtype axis -> start stop
logspace            numpy.Logspace          num endpoint base dtype axis -> start stop
associative_scan    core.AssociativeScan    reverse axis            -> f elems
rearrange           einops.Rearrange                                -> tensor pattern **axes_lengths
elu                 nn.Elu                  alpha                   -> x
celu                nn.Celu                 alpha                   -> x
leaky_relu          nn.LeakyRelu            negative_slope          -> x
gelu                nn.Gelu                 approximate             -> x
glu                 nn.Glu                  axis                    -> x
soft_shrink         nn.SoftShrink           threshold               -> x
hard_shrink         nn.HardShrink           threshold               -> x
squareplus          nn.Squareplus           b                       -> x
threshold           nn.Threshold            threshold default_value -> x
softmax             nn.Softmax              axis                    -> x
log_softmax         nn.LogSoftmax           axis                    -> x
sparsemax           nn.Sparsemax            axis                    -> x
one_hot             nn.OneHot               num_classes axis dtype sparse -> x
multi_hot           nn.MultiHot             num_classes axis dtype sparse -> inputs
binary_crossentropy nn.BinaryCrossentropy   from_logits             -> target output
categorical_crossentropy nn.CategoricalCrossentropy from_logits axis -> target output
sparse_categorical_crossentropy nn.SparseCategoricalCrossentropy from_logits axis -> target output
ctc_loss            nn.CTCLoss              mask_index
    -> target output target_length output_length
ctc_decode          nn.CTCDecode            strategy beam_width top_paths merge_repeated mask_index
    -> inputs sequence_lengths
adaptive_average_pool nn.AdaptiveAveragePool output_size data_format -> inputs
adaptive_max_pool   nn.AdaptiveMaxPool      output_size data_format -> inputs
moments             nn.Moments              axes keepdims synchronized -> x
batch_normalization nn.BatchNorm            axis epsilon            -> x mean variance offset scale
normalize           nn.Normalize            axis order epsilon      -> x
layer_normalization nn.LayerNorm            axis epsilon rms_scaling=False -> x gamma beta
rms_normalization   nn.RMSNorm              axis epsilon            -> x scale=
conv                nn.Conv          strides padding data_format dilation_rate -> inputs kernel
depthwise_conv      nn.DepthwiseConv strides padding data_format dilation_rate -> inputs kernel
max_pool            nn.MaxPool              pool_size strides padding data_format -> inputs
average_pool        nn.AveragePool          pool_size strides padding data_format -> inputs
in_top_k            math.InTopK             k                       -> targets predictions
logsumexp           math.Logsumexp          axis keepdims           -> x
segment_sum         math.SegmentSum         num_segments sorted     -> data segment_ids
top_k               math.TopK               k sorted                -> x
norm                linalg.Norm             ord axis keepdims       -> x
segment_max         math.SegmentMax         num_segments sorted     -> data segment_ids
segment_min         math.SegmentMin         num_segments sorted     -> data segment_ids
segment_prod        math.SegmentProd        num_segments sorted     -> data segment_ids
cdist               math.CDist                                      -> x y
extract_sequences   math.ExtractSequences   sequence_length sequence_stride -> x
fft                 math.FFT                                        -> x
fft2                math.FFT2                                       -> x
ifft2               math.IFFT2                                      -> x
rfft                math.RFFT               fft_length              -> x
irfft               math.IRFFT              fft_length              -> x
stft                math.STFT   sequence_length sequence_stride fft_length window center -> x
istft               math.ISTFT  sequence_length sequence_stride fft_length length window center -> x
erfc                math.Erfc                                       -> x
erfinv              math.Erfinv                                     -> x
logdet              math.Logdet                                     -> x
view_as_complex     math.ViewAsComplex                              -> x
view_as_real        math.ViewAsReal                                 -> x
cholesky            linalg.Cholesky         upper                   -> x
cholesky_inverse    linalg.CholeskyInverse  upper                   -> x
eig                 linalg.Eig                                      -> x
eigh                linalg.Eigh                                     -> x
lu_factor           linalg.LuFactor                                 -> x
qr                  linalg.Qr               mode                    -> x
solve               linalg.Solve                                    -> a b
solve_triangular    linalg.SolveTriangular  lower                   -> a b
svd                 linalg.SVD              full_matrices compute_uv -> x
lstsq               linalg.Lstsq            rcond                   -> a b
matrix_rank         linalg.MatrixRank       tol                     -> x
pinv                linalg.Pinv             rcond                   -> x
separable_conv      nn.SeparableConv strides padding data_format dilation_rate
    -> inputs depthwise_kernel pointwise_kernel
conv_transpose      nn.ConvTranspose strides padding output_padding data_format dilation_rate
    -> inputs kernel
psnr                nn.PSNR                 max_val                 -> x1 x2
dot_product_attention nn.DotProductAttention is_causal flash_attention attn_logits_soft_cap
    -> query key value bias= mask= scale=
polar               nn.Polar                                        -> abs_ angle
unfold              nn.Unfold    kernel_size dilation padding stride -> x
fold                nn.Fold      output_size kernel_size dilation padding stride -> x
depth_to_space      nn.DepthToSpace         block_size data_format  -> x
space_to_depth      nn.SpaceToDepth         block_size data_format  -> x
rgb_to_grayscale    image.RGBToGrayscale    data_format             -> images
rgb_to_hsv          image.RGBToHSV          data_format             -> images
hsv_to_rgb          image.HSVToRGB          data_format             -> images
resize              image.Resize size interpolation antialias crop_to_aspect_ratio
    pad_to_aspect_ratio fill_mode fill_value data_format
    -> images
affine_transform    image.AffineTransform   interpolation fill_mode fill_value data_format
    -> images transform
extract_patches     image.ExtractPatches    size strides dilation_rate padding data_format -> images
map_coordinates     image.MapCoordinates    order fill_mode fill_value -> inputs coordinates
pad_images          image.PadImages top_padding left_padding bottom_padding right_padding
    target_height target_width data_format
    -> images
crop_images         image.CropImages top_cropping left_cropping bottom_cropping right_cropping
    target_height target_width data_format
    -> images
perspective_transform image.PerspectiveTransform interpolation fill_value data_format
    -> images start_points end_points
gaussian_blur       image.GaussianBlur      kernel_size sigma data_format -> images
elastic_transform   image.ElasticTransform  alpha sigma interpolation fill_mode fill_value seed
    data_format
    -> images
scale_and_translate image.ScaleAndTranslate spatial_dims method antialias
    -> images output_shape scale translation
sobel_edges         image.SobelEdges        data_format             -> images
ssim                image.SSIM  max_val filter_size filter_sigma k1 k2 data_format -> image1 image2
"""

# No config, the function's first argument as the call's: class = the name in CamelCase.
_UNARY = {
    "core": "stop_gradient",
    "numpy": """logical_not absolute negative square sign sqrt exp expm1 log log1p sin cos tan
        tanh sinh cosh arcsin arccos arctan reciprocal floor ceil real imag conjugate copy log2
        log10 exp2 trunc isnan isinf isfinite nonzero size ravel angle arcsinh arccosh arctanh
        cbrt deg2rad rad2deg fabs sinc i0 isneginf isposinf isreal signbit bitwise_invert
        bitwise_not corrcoef slogdet fliplr flipud dstack""",
    "nn": """relu6 sigmoid softplus softsign silu selu hard_sigmoid hard_silu log_sigmoid
        tanh_shrink sparse_plus sparse_sigmoid hard_tanh relu""",
    "math": "erf rsqrt",
    "linalg": "det inv",
}
# No config, call (x1, x2).
_BINARY = {
    "numpy": """add subtract multiply divide true_divide divide_no_nan floor_divide mod power
        maximum minimum arctan2 logaddexp equal not_equal greater greater_equal less
        less_equal logical_and logical_or logical_xor matmul dot inner vdot outer fmax fmin fmod
        gcd lcm heaviside hypot ldexp logaddexp2 nextafter kron""",
}
# keras.ops functions that Keras writes as another op's class.
_ALIASES = {"abs": "absolute", "conj": "conjugate", "swish": "silu", "hard_swish": "hard_silu"}
# Class names that are not the op name in CamelCase (Keras's own spelling).
_CLASS_NAMES = {"isclose": "Isclose", "logaddexp": "Logaddexp", "arctan2": "Arctan2",
                "isnan": "Isnan", "isinf": "Isinf", "isfinite": "Isfinite", "log1p": "Log1p",
                "expm1": "Expm1", "log2": "Log2", "log10": "Log10", "exp2": "Exp2",
                "relu6": "Relu6", "matmul": "Matmul", "vdot": "Vdot"}

_THEMES = ("core", "numpy", "nn", "math", "linalg", "einops", "image")


class OpSpec:
    """How one op's arguments map onto Keras's class: `config` is [(config key, function
    argument or None, constant)], `call` [(kind, call name, function argument)] with kind one
    of "arg", "kwarg", "varargs", "varkwargs"."""

    def __init__(self, name, theme, class_name, config, call):
        self.name, self.theme, self.class_name = name, theme, class_name
        self.config, self.call = tuple(config), tuple(call)
        self.keras_module = f"keras.src.ops.{theme}"

    @functools.cached_property
    def function(self):
        from tensorflux.keras import ops

        return inspect.unwrap(getattr(getattr(ops, self.theme), self.name))

    @functools.cached_property
    def signature(self):
        return inspect.signature(self.function)

    def default(self, argument):
        parameter = self.signature.parameters[argument]
        if parameter.kind is parameter.VAR_POSITIONAL:
            return ()
        if parameter.kind is parameter.VAR_KEYWORD:
            return {}
        return None if parameter.default is parameter.empty else parameter.default

    def config_defaults(self):
        return {key: constant if argument is None else self.default(argument)
                for key, argument, constant in self.config}


def _parse_row(line):
    head, call_text = line.split("->")
    name, where, *config_words = head.split()
    theme, class_name = where.split(".")
    config = []
    for word in config_words:
        if "=" in word:
            key, literal = word.split("=", 1)
            config.append((key, None, ast.literal_eval(literal)))
        else:
            config.append((word, word, None))
    call = []
    for word in call_text.split():
        if word.startswith("**"):
            call.append(("varkwargs", None, word[2:]))
        elif word.startswith("*"):
            call.append(("varargs", None, word[1:]))
        elif word.endswith("="):
            call.append(("kwarg", word[:-1], word[:-1]))
        else:
            call.append(("arg", None, word))
    return OpSpec(name, theme, class_name, config, call)


def _camel(name):
    return _CLASS_NAMES.get(name) or "".join(part.capitalize() for part in name.split("_"))


@functools.cache
def _specs():
    specs = {}
    for line in re.sub(r"\n\s+", " ", _TABLE.strip()).splitlines():
        spec = _parse_row(line)
        specs[spec.name] = spec
    for theme, names in _UNARY.items():
        for name in names.split():
            specs[name] = OpSpec(name, theme, _camel(name), (), [("arg", None, None)])
    for theme, names in _BINARY.items():
        for name in names.split():
            specs[name] = OpSpec(name, theme, _camel(name), (),
                                 [("arg", None, "x1"), ("arg", None, "x2")])
    for spec in specs.values():  # unary rows take the function's own first argument name
        if spec.call and spec.call[0][2] is None:
            first = next(iter(spec.signature.parameters))
            spec.call = (("arg", None, first),)
    return specs


def op_spec(op_name):
    """The OpSpec for a keras.ops function name (aliases included), or None."""
    return _specs().get(_ALIASES.get(op_name, op_name))


@functools.cache
def op_classes():
    """{op name: the KerasOp subclass named as Keras's op class}, made once, for every op."""
    from tensorflux.keras.ops._dispatch import KerasOp

    classes = {}
    for name, spec in _specs().items():
        classes[name] = type(spec.class_name, (KerasOp,),
                             {"op_name": name, "keras_module": spec.keras_module,
                              "__module__": __name__, "__qualname__": spec.class_name,
                              "__doc__": f"keras.ops.{name} as a Functional node (Keras's "
                                         f"{spec.keras_module}.{spec.class_name})."})
    return classes


def op_class_for(module, class_name):
    """The KerasOp subclass for Keras's op class `module.class_name` (any `keras.src.ops.*`
    module: classes have moved between them), or a ValueError naming the op."""
    by_class = {cls.__name__: cls for cls in op_classes().values()}
    cls = by_class.get(class_name)
    if cls is not None:
        return cls
    import re

    snake = re.sub("([a-z0-9])([A-Z])", r"\1_\2",
                   re.sub("(.)([A-Z][a-z]+)", r"\1_\2", class_name)).lower()
    raise ValueError(f"This model uses the Keras op {module}.{class_name} (keras.ops.{snake}), "
                     "which tensorflux cannot load: it is not one of the keras.ops that "
                     "tensorflux provides as a Functional model node. Only the ops in "
                     "tensorflux's allowlist are loaded; nothing a file names is imported.")


# ---------------------------------------------------------------------- values a file holds
def check_representable(value, where, allow_symbolic=False):
    """Raises a TypeError naming `where` when `value` cannot be written to a config and read
    back (functions, arbitrary objects, complex numbers, ...)."""
    problem = _unrepresentable(value, allow_symbolic)
    if problem is not None:
        raise TypeError(f"Cannot save {where}: it holds {problem}, which a model config "
                        "cannot represent (configs hold numbers, strings, booleans, None, "
                        "lists, dicts, slices, dtypes and arrays). Pass that argument as "
                        "plain values, or compute it in a custom layer registered with "
                        "@keras.saving.register_keras_serializable().")


def _unrepresentable(value, allow_symbolic):
    from tensorflux.keras.engine.keras_tensor import KerasTensor
    from tensorflux.tensor import _TensorLike

    if value is None or value is Ellipsis or isinstance(value, (bool, int, float, str, bytes)):
        return None
    if isinstance(value, KerasTensor):
        return None if allow_symbolic else "a symbolic tensor (a KerasTensor)"
    if isinstance(value, (list, tuple)):
        return next((p for p in (_unrepresentable(v, allow_symbolic) for v in value)
                     if p is not None), None)
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            return "a dict with non-string keys"
        return _unrepresentable(list(value.values()), allow_symbolic)
    if isinstance(value, slice):
        return _unrepresentable([value.start, value.stop, value.step], allow_symbolic)
    if type(value).__name__ == "DType" and hasattr(value, "name"):
        return None
    if isinstance(value, _TensorLike) or type(value).__module__ == "numpy":
        dtype = str(getattr(value, "dtype", ""))
        if "complex" in dtype or "object" in dtype or dtype.startswith(("<U", "<S", "|S")):
            return f"an array of dtype {dtype}"
        return None if dtype else f"{type(value).__name__} {value!r}"
    if callable(value):
        return f"the function {getattr(value, '__name__', value)!r}"
    return f"a {type(value).__name__} object"


# ---------------------------------------------------------------------- splitting a call
class Split:
    """A call's arguments in Keras's layout: config, call args and kwargs, and the extras
    (tensorflux-only arguments given a non-default value, which Keras's class cannot hold)."""

    def __init__(self, config, args, kwargs, extras):
        self.config, self.args, self.kwargs, self.extras = config, args, kwargs, extras


def split_arguments(spec, arguments):
    """`arguments` (name -> value, as bound by the function's signature) in Keras's layout,
    or None when a config argument holds a tensor (Keras's class could not carry it)."""
    from tensorflux.keras.engine.keras_tensor import any_symbolic_tensors

    used = set()
    config = {}
    for key, argument, constant in spec.config:
        if argument is None:
            config[key] = constant
            continue
        used.add(argument)
        value = arguments.get(argument, spec.default(argument))
        if any_symbolic_tensors((value,)):
            return None
        config[key] = value
    args, kwargs = [], {}
    for kind, call_name, argument in spec.call:
        used.add(argument)
        value = arguments.get(argument, spec.default(argument))
        if kind == "arg":
            args.append(value)
        elif kind == "kwarg":
            kwargs[call_name] = value
        elif kind == "varargs":
            args.extend(value)
        else:
            kwargs.update(value)
    extras = {name: value for name, value in arguments.items()
              if name not in used and not _is_default(value, spec.default(name))}
    return Split(config, args, kwargs, extras)


def _is_default(value, default):
    if value is default:
        return True
    if isinstance(value, (bool, int, float, str, type(None))) and \
            isinstance(default, (bool, int, float, str, type(None))):
        return type(value) is type(default) and value == default
    return False


def function_arguments(spec, config, args, kwargs):
    """The function's arguments (name -> value) for a node: the inverse of split_arguments."""
    values = {}
    named = {call_name for kind, call_name, _ in spec.call if kind == "kwarg"}
    for key, argument, _ in spec.config:
        if argument is not None and key in config:
            values[argument] = config[key]
    args = list(args)
    for kind, call_name, argument in spec.call:
        if kind == "arg":
            if args:
                values[argument] = args.pop(0)
        elif kind == "kwarg":
            if call_name in kwargs:
                values[argument] = kwargs[call_name]
        elif kind == "varargs":
            values[argument] = tuple(args)
            args = []
        else:
            values[argument] = {k: v for k, v in kwargs.items() if k not in named}
    unknown = [k for k in kwargs if k not in named]
    if unknown and not any(kind == "varkwargs" for kind, _, _ in spec.call):
        raise TypeError(f"keras.ops.{spec.name} ({spec.class_name}) was called with "
                        f"unexpected keyword argument(s) {unknown}")
    if args:
        raise TypeError(f"keras.ops.{spec.name} ({spec.class_name}) was called with "
                        f"{len(args)} more positional argument(s) than Keras's "
                        f"{spec.class_name} takes")
    return values
