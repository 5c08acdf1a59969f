"""grader.reference against values worked out by hand (the working is in the comments)."""
from __future__ import annotations

import json
import math

import pytest

from grader.reference import COMPUTATIONS, Computation, ReferenceError_, compute, likely_mistakes, parse_layers


def close(a, b, tol=1e-9):
    if isinstance(a, list) or isinstance(b, list):
        return isinstance(a, list) and isinstance(b, list) and len(a) == len(b) and all(close(x, y, tol) for x, y in zip(a, b))
    return math.isclose(a, b, rel_tol=tol, abs_tol=tol)


def find(mistakes: dict, words: str):
    """The value of the one mistake whose explanation contains ``words``."""
    hits = [v for k, v in mistakes.items() if words in k]
    assert len(hits) == 1, f"{words!r} not among {list(mistakes)}"
    return hits[0]


# ---------------------------------------------------------------- TMU HW4 tiny CNN
# x padded with a zero border, kernel slid as cross-correlation (torch's conv2d):
#   out[0][0] = -1.1*3 + 1.0*1                               = -2.3
#   out[0][1] = 0.3*3 - 1.1*1 + 1.0*9 + 0.3*3                  =  9.7
#   out[0][2] = 0.3*1 - 1.1*9 + 1.0*2 + 1.1*3 + 0.3*3          = -3.4
#   out[0][3] = 0.3*9 - 1.1*2 - 1.0*3 + 1.1*3                  =  0.8
#   out[1][0] = 0.3*3 - 0.1*1 + 0.3*3                          =  1.7
#   out[1][1] = 0.6 + 0.3 - 0.9 + 1.0*3 + 1.1*3 + 0.3*1        =  6.6
#   out[1][2] = 0.2 + 2.7 - 0.2 - 3.3 + 3.0 - 3.0 + 1.1 + 0.3  =  0.8
#   out[1][3] = 1.8 + 0.6 + 0.9 - 3.3 - 1.0 + 1.1              =  0.1
#   out[2][0] = 1.0*3 + 1.1*8 + 0.3*2                          = 12.4
#   out[2][1] = -0.3 - 3.3 + 1.0 - 8.0 + 2.2 + 2.4             = -6.0
#   out[2][2] = 0.9 - 0.3 + 0.9 - 1.1 + 1.0 - 2.0 + 8.8 + 2.1  = 10.3
#   out[2][3] = 0.6 + 0.9 + 0.3 - 1.1 - 8.0 + 7.7              =  0.4
#   out[3][0] = -0.1*3 - 1.1*8 + 1.0*2                         = -7.1
#   out[3][1] = 0.9 - 0.1 + 2.4 - 2.2 + 8.0                    =  9.0
#   out[3][2] = 0.6 + 0.3 - 0.1 + 0.6 - 8.8 + 7.0              = -0.4
#   out[3][3] = 0.2 + 0.3 + 2.4 - 7.7                          = -4.8
TMU_X = [[3, 1, 9, 2], [0, 0, 3, 3], [0, 3, 1, 1], [8, 2, 8, 7]]
TMU_W = [[0.2, 0.3, -0.1], [0.3, -1.1, 1.0], [-1.0, 1.1, 0.3]]
TMU_CONV = [[-2.3, 9.7, -3.4, 0.8], [1.7, 6.6, 0.8, 0.1], [12.4, -6.0, 10.3, 0.4], [-7.1, 9.0, -0.4, -4.8]]
TMU_RELU = [[0, 9.7, 0, 0.8], [1.7, 6.6, 0.8, 0.1], [12.4, 0, 10.3, 0.4], [0, 9.0, 0, 0]]
TMU_POOL = [[9.7, 0.8], [12.4, 10.3]]
TMU_T = [[1, 2], [3, 1]]
# |9.7-1| + |0.8-2| + |12.4-3| + |10.3-1| = 8.7 + 1.2 + 9.4 + 9.3 = 28.6; / 4 = 7.15


def test_tmu_forward_pass():
    conv = compute("conv2d", input=TMU_X, weight=TMU_W, padding=1)
    assert close(conv, TMU_CONV)
    relu = compute("relu", input=conv)
    assert close(relu, TMU_RELU)
    pooled = compute("max_pool2d", input=relu, kernel_size=2)
    assert close(pooled, TMU_POOL)
    assert close(compute("l1_loss", input=pooled, target=TMU_T), 7.15)
    assert close(compute("l1_loss", input=pooled, target=TMU_T, reduction="sum"), 28.6)


def test_tmu_mistakes():
    m = likely_mistakes("conv2d", input=TMU_X, weight=TMU_W, padding=1)
    # without padding only the inner 2x2 of the padded result remains
    assert close(find(m, "padding was forgotten"), [[6.6, 0.8], [-6.0, 10.3]])
    assert close(find(m, "transposed"), [list(r) for r in zip(*TMU_CONV)])
    assert close(find(m, "signs are flipped"), [[-v for v in r] for r in TMU_CONV])
    # flipped kernel [[0.3,1.1,-1.0],[1.0,-1.1,0.3],[-0.1,0.3,0.2]]; out[0][0] = -1.1*3 + 0.3*1 + 0.3*0 ... = -3.0
    assert close(find(m, "flipped the kernel")[0][0], -1.1 * 3 + 0.3 * 1)
    pm = likely_mistakes("max_pool2d", input=TMU_RELU, kernel_size=2)
    # window means: (0+9.7+1.7+6.6)/4, (0+0.8+0.8+0.1)/4, (12.4+0+0+9)/4, (10.3+0.4+0+0)/4
    assert close(find(pm, "average pooling"), [[4.5, 0.425], [5.35, 2.675]])
    lm = likely_mistakes("l1_loss", input=TMU_POOL, target=TMU_T)
    assert close(find(lm, "a sum where a mean was asked"), 28.6)
    # (8.7² + 1.2² + 9.4² + 9.3²) / 4 = (75.69 + 1.44 + 88.36 + 86.49) / 4
    assert close(find(lm, "squared"), 62.995)
    # (8.7 - 1.2 + 9.4 + 9.3) / 4
    assert close(find(lm, "absolute value was left out"), 6.55)


# --------------------------------------------------------------------- convolution

def test_conv2d_flip_and_bias_and_stride():
    x = [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    w = [[1, 2], [3, 4]]
    # cross-correlation: 1+4+12+20, 2+6+15+24, 4+10+21+32, 5+12+24+36
    assert compute("conv2d", input=x, weight=w) == [[37, 47], [67, 77]]
    # true convolution uses [[4,3],[2,1]]: 4+6+8+5, 8+9+10+6, 16+15+14+8, 20+18+16+9
    assert compute("conv2d", input=x, weight=w, flip=True) == [[23, 33], [53, 63]]
    m = likely_mistakes("conv2d", input=x, weight=w, flip=True)
    assert find(m, "without flipping it (cross-correlation)") == [[37, 47], [67, 77]]
    assert compute("conv2d", input=x, weight=w, bias=0.5) == [[37.5, 47.5], [67.5, 77.5]]
    assert find(likely_mistakes("conv2d", input=x, weight=w, bias=[0.5]), "bias was not added") == [[37, 47], [67, 77]]
    # stride 2, padding 1: 2x2 windows of the 5x5 padded image at (0,0), (0,2), (2,0), (2,2):
    #   [[0,0],[0,1]] -> 4*1 = 4;  [[0,0],[2,3]] -> 3*2 + 4*3 = 18;
    #   [[0,4],[0,7]] -> 2*4 + 4*7 = 36;  [[5,6],[8,9]] -> 5 + 12 + 24 + 36 = 77
    assert compute("conv2d", input=x, weight=w, stride=2, padding=1) == [[4, 18], [36, 77]]


def test_conv2d_sobel_flip_mistake():
    # vertical edge; Sobel k = [[1,0,-1],[2,0,-2],[1,0,-1]], padding 1.
    # out[i][j] = sum_a c_a (x[i+a-1][j-1] - x[i+a-1][j+1]) with c = (1,2,1); the column differences are
    # (0, -1, -1, 0, 1) and the row weights 1+2 = 3 at the borders, 1+2+1 = 4 in the middle.
    img = [[0, 0, 1, 1, 1]] * 3
    sobel = [[1, 0, -1], [2, 0, -2], [1, 0, -1]]
    want = [[0, -3, -3, 0, 3], [0, -4, -4, 0, 4], [0, -3, -3, 0, 3]]
    assert compute("conv2d", input=img, weight=sobel, padding=1) == want
    m = likely_mistakes("conv2d", input=img, weight=sobel, padding=1)
    flipped = [[0, 3, 3, 0, -3], [0, 4, 4, 0, -4], [0, 3, 3, 0, -3]]  # the flipped Sobel kernel is -k
    assert find(m, "flipped the kernel") == flipped
    # the generic sign flip gives the same matrix, so it is not listed a second time
    assert not any("signs are flipped" in k for k in m)
    # no padding: one row, column differences x[j] - x[j+2] = (-1, -1, 0) times 4
    assert find(m, "padding was forgotten") == [[-4, -4, 0]]


def test_conv2d_channels():
    # 2 input channels, 2 filters of 1x1: filter 0 adds the channels, filter 1 subtracts
    x = [[[1, 2]], [[10, 20]]]
    w = [[[[1]], [[1]]], [[[1]], [[-1]]]]
    assert compute("conv2d", input=x, weight=w, bias=[0, 100]) == [[[11, 22]], [[91, 82]]]
    # a single C_in x K x K filter gives one 2-D map
    assert compute("conv2d", input=x, weight=[[[2]], [[1]]]) == [[12, 24]]


# ----------------------------------------------------------- activations and linear

def test_activations():
    assert compute("relu", input=[-1.5, 0, 2]) == [0, 0, 2]
    assert close(compute("sigmoid", input=[0.0, math.log(3)]), [0.5, 0.75])  # 1/(1+1/3) = 3/4
    assert close(compute("tanh", input=[0.0, math.log(2)]), [0.0, 0.6])       # (2-1/2)/(2+1/2) = 0.6
    assert close(compute("softmax", input=[0.0, math.log(3)]), [0.25, 0.75])  # 1/(1+3), 3/(1+3)
    assert close(compute("softmax", input=[[0.0, 0.0], [math.log(3), 0.0]], dim=0), [[0.25, 0.5], [0.75, 0.5]])
    assert close(compute("leaky_relu", input=[-2, 3], negative_slope=0.1), [-0.2, 3])
    assert find(likely_mistakes("relu", input=[-1, 2]), "not applied") == [-1, 2]
    assert close(find(likely_mistakes("softmax", input=[1.0, 3.0]), "without exponentiating"), [0.25, 0.75])


def test_linear():
    W, x, b = [[1, 2], [3, 4]], [1, 1], [0.5, -1]
    assert compute("linear", input=x, weight=W, bias=b) == [3.5, 6]   # [1+2+0.5, 3+4-1]
    assert compute("linear", input=[[1, 1], [1, 0]], weight=W) == [[3, 7], [1, 3]]
    m = likely_mistakes("linear", input=x, weight=W, bias=b)
    assert find(m, "bias was not added") == [3, 7]
    assert find(m, "transposed (y = Wᵀx)") == [4.5, 5]                # Wᵀx = [4, 6]
    with pytest.raises(ReferenceError_, match="out x in"):
        compute("linear", input=[1, 1, 1], weight=[[1, 2], [3, 4], [5, 6]])


# -------------------------------------------------------------------------- pooling

def test_pooling():
    x = [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12], [13, 14, 15, 16]]
    assert compute("max_pool2d", input=x, kernel_size=2) == [[6, 8], [14, 16]]
    assert compute("avg_pool2d", input=x, kernel_size=2) == [[3.5, 5.5], [11.5, 13.5]]
    # overlapping 3x3 windows, stride 1
    assert compute("max_pool2d", input=x, kernel_size=3, stride=1) == [[11, 12], [15, 16]]
    m = likely_mistakes("avg_pool2d", input=x, kernel_size=2)
    assert find(m, "max pooling was used") == [[6, 8], [14, 16]]
    # 2-channel input keeps its channels
    assert compute("max_pool2d", input=[x, [[-v for v in r] for r in x]], kernel_size=4) == [[[16]], [[-1]]]


# --------------------------------------------------------------------------- losses

def test_losses():
    assert close(compute("mse_loss", input=[1, 2, 3], target=[1, 0, 0]), 13 / 3)  # (0+4+9)/3
    m = likely_mistakes("mse_loss", input=[1, 2, 3], target=[1, 0, 0])
    assert close(find(m, "a sum where a mean"), 13)
    assert close(find(m, "not squared"), 5 / 3)                                    # (0+2+3)/3
    assert close(find(m, "RMSE"), math.sqrt(13 / 3))
    assert close(find(likely_mistakes("l1_loss", input=[1, 2], target=[0, 0], reduction="sum"),
                      "a mean where a sum"), 1.5)
    # softmax([0, ln 3]) = [1/4, 3/4]
    assert close(compute("cross_entropy", logits=[0, math.log(3)], target=1), math.log(4 / 3))
    batch = [[0, 0], [0, math.log(3)]]
    want = (math.log(2) + math.log(4 / 3)) / 2
    assert close(compute("cross_entropy", logits=batch, target=[0, 1]), want)
    assert close(compute("cross_entropy", logits=batch, target=[[1, 0], [0, 1]]), want)   # one-hot
    # soft target on the first sample: -½ ln ½ - ½ ln ½ = ln 2 (its logits are equal)
    assert close(compute("cross_entropy", logits=batch, target=[[0.5, 0.5], [0, 1]]), want)
    cm = likely_mistakes("cross_entropy", logits=batch, target=[0, 1])
    assert close(find(cm, "a sum where a mean"), 2 * want)
    assert close(find(cm, "log base 10"), want / math.log(10))
    assert close(find(cm, "minus sign"), -want)
    # nll on log-probabilities: (2 + 3) / 2
    assert compute("nll_loss", input=[[-1, -2], [-3, -0.5]], target=[1, 0]) == 2.5
    assert find(likely_mistakes("nll_loss", input=[[-1, -2], [-3, -0.5]], target=[1, 0]), "a sum where") == 5
    # BCE: -(ln 0.5 + ln(1-0.25)) / 2
    assert close(compute("binary_cross_entropy", input=[0.5, 0.25], target=[1, 0]),
                 -(math.log(0.5) + math.log(0.75)) / 2)
    assert close(compute("binary_cross_entropy", input=[0.0], target=[1], logits=True), math.log(2))


# ----------------------------------------------------------------------- notation

def test_notation_forms():
    specs = parse_layers("Conv(32,128,3,1,1) - ReLU - Conv(128,128,4,4,1)")
    assert [s.kind for s in specs] == ["conv", "relu", "conv"]
    assert specs[2].params == {"in_channels": 128, "out_channels": 128, "kernel_size": 4, "stride": 4,
                               "padding": 1, "dilation": 1}
    assert parse_layers("Conv(3,8,5)")[0].params["stride"] == 1 and parse_layers("Conv(3,8,5)")[0]["padding"] == 0
    assert len(parse_layers("(Conv(3,3,5,2,2) - ReLU) * 6")) == 12
    assert parse_layers("MaxPool(2,2)")[0].params == {"kernel_size": 2, "stride": 2, "padding": 0}
    assert parse_layers("MaxPool(4,3,0)")[0].params == {"kernel_size": 4, "stride": 3, "padding": 0}
    assert parse_layers("MaxPool(3)")[0]["stride"] == 3                     # stride defaults to K
    assert parse_layers("AvgPool(2,2)")[0].kind == "avgpool"
    assert parse_layers("FC(4096,1000)")[0].params == {"in_features": 4096, "out_features": 1000}
    kinds = [s.kind for s in parse_layers("Linear(25088,4096) - Flatten - Tanh - LeakyReLU - BatchNorm2d(64) "
                                          "- Dropout(0.5) - Sigmoid - Softmax")]
    assert kinds == ["linear", "flatten", "tanh", "leakyrelu", "batchnorm2d", "dropout", "sigmoid", "softmax"]
    assert parse_layers("Dropout(0.5)")[0]["p"] == 0.5
    # keywords, other separators and repeat spellings
    kw = parse_layers("Conv2d(3, 64, kernel_size=3, padding=1) → MaxPool2d(kernel_size=2) – ReLU -> ReLU")
    assert kw[0]["kernel_size"] == 3 and kw[0]["padding"] == 1 and kw[1]["stride"] == 2 and len(kw) == 4
    assert len(parse_layers("3 x (Conv(3,3,3) - ReLU)")) == 6 == len(parse_layers("(Conv(3,3,3) - ReLU) x3"))
    # YAML lists of strings and dicts
    mixed = parse_layers(["Conv(3,64,3,1,1) - ReLU",
                          {"type": "Conv2d", "in": 64, "out": 64, "kernel": 3, "stride": 1, "padding": 1},
                          {"type": "MaxPool", "kernel": 2}])
    assert [s.kind for s in mixed] == ["conv", "relu", "conv", "maxpool"]
    assert mixed[2].params == dict(in_channels=64, out_channels=64, kernel_size=3, stride=1, padding=1, dilation=1)
    assert mixed[3]["stride"] == 2


@pytest.mark.parametrize("notation, words", [
    ("Convv(3,64,3)", "unknown layer 'Convv'"),
    ("Conv(3,64)", "missing kernel_size"),
    ("Conv(3,64,3) ReLU", "expected a separator '-' between layers, got 'ReLU'"),
    ("(Conv(3,3,3) - ReLU * 2", "expected ')'"),
    ("Conv(3,64,3,1,1,1,1)", "too many arguments"),
    ("MaxPool(2,x)", "expected a number, got 'x'"),
    ("Conv(3,64,3) - ", "expected a layer"),
    ("Conv(3,64,3,foo=1)", "unknown argument 'foo'"),
    ("Conv(3,64,3.5)", "kernel_size must be an integer"),
    ("Conv(3,64,3) * 0", "repeat count"),
    ("Conv(3,64,3) $ ReLU", "unexpected character '$'"),
    ("Dropout(1.5)", "probability"),
    ("", "empty"),
    ([{"in": 3}], "no 'type'"),
    ([{"type": "Conv2d", "in": 3, "out": 8, "kernel": [3, 5]}], "only square kernels"),
])
def test_notation_errors(notation, words):
    with pytest.raises(ReferenceError_) as e:
        parse_layers(notation)
    assert words in str(e.value)
    with pytest.raises(ReferenceError_):   # and through compute too
        compute("receptive_fields", layers=notation)


# ---------------------------------------------------------------- receptive fields

RF_A = "Conv(3,64,3,2,1) - ReLU - MaxPool(4,3,0) - Conv(64,128,3,1,1) - ReLU - MaxPool(2,2,0)"


def test_receptive_fields():
    # R: 1+2*1 = 3 (J 2); 3+3*2 = 9 (J 6); 9+2*6 = 21 (J 6); 21+1*6 = 27 (J 12)
    assert compute("receptive_fields", layers=RF_A) == [3, 9, 21, 27]
    assert compute("jumps", layers=RF_A) == [2, 6, 6, 12]
    assert compute("receptive_field", layers=RF_A) == 27
    # 5, 5+4*2, 13+4*4, 29+4*8, 61+4*16, 125+4*32
    assert compute("receptive_fields", layers="(Conv(3,3,5,2,2) - ReLU) * 6") == [5, 13, 29, 61, 125, 253]
    assert compute("receptive_fields", layers="Conv(32,128,3,1,1) - ReLU - Conv(128,128,4,4,1)") == [3, 6]
    assert compute("receptive_fields", layers=RF_A, only=["conv"]) == [3, 21]
    # dilation 2 makes a 3-kernel span 5
    assert compute("receptive_fields", layers="Conv(1,1,3,1,0,2)") == [5]


def test_receptive_field_mistakes():
    m = likely_mistakes("receptive_fields", layers=RF_A)
    # own stride: 1+2*2 = 5; 5+3*3 = 14; 14+2*1 = 16; 16+1*2 = 18
    assert find(m, "strides were not accumulated") == [5, 14, 16, 18]
    # previous layer's stride only: 1+2*1 = 3; 3+3*2 = 9; 9+2*3 = 15; 15+1*1 = 16
    assert find(m, "previous layer's stride") == [3, 9, 15, 16]
    # jump after the layer: 1+2*2 = 5; 5+3*6 = 23; 23+2*6 = 35; 35+1*12 = 47
    assert find(m, "jump after the layer") == [5, 23, 35, 47]
    # jump starting at S1 = 2: 1+2*2 = 5; 5+3*4 = 17; 17+2*12 = 41; 41+1*12 = 53
    assert find(m, "first layer was counted with its own stride") == [5, 17, 41, 53]
    # kernels only: 3, 3+3, 6+2, 8+1
    assert find(m, "strides were ignored") == [3, 6, 8, 9]
    assert find(likely_mistakes("receptive_field", layers=RF_A), "strides were not accumulated") == 18
    assert find(likely_mistakes("jumps", layers=RF_A), "own stride") == [2, 3, 1, 2]


# --------------------------------------------------------------- shapes and params

def test_output_shapes():
    # conv: floor((32+2-3)/2)+1 = 16; pool: floor((16-4)/3)+1 = 5; conv keeps 5; pool: floor((5-2)/2)+1 = 2
    assert compute("output_shapes", input_shape=[3, 32, 32], layers=RF_A) == [
        [64, 16, 16], [64, 16, 16], [64, 5, 5], [128, 5, 5], [128, 5, 5], [128, 2, 2]]
    assert compute("output_shape", input_shape=[3, 32, 32], layers=RF_A) == [128, 2, 2]
    m = likely_mistakes("output_shapes", input_shape=[3, 32, 32], layers=RF_A)
    # no padding: floor(29/2)+1 = 15; floor(11/3)+1 = 4; 4-2 = 2; floor(0/2)+1 = 1
    assert find(m, "padding was ignored")[-1] == [128, 1, 1]
    # ceil: ceil(31/2)+1 = 17; ceil(13/3)+1 = 6; 6; ceil(4/2)+1 = 3
    assert find(m, "rounded up (ceil)") == [[64, 17, 17], [64, 17, 17], [64, 6, 6], [128, 6, 6], [128, 6, 6],
                                            [128, 3, 3]]
    assert find(likely_mistakes("output_shape", input_shape=[3, 32, 32], layers=RF_A), "ceil") == [128, 3, 3]
    # 224 -> 224 (same conv) -> 112; 64*112*112 = 802816 features
    vgg = "Conv(3,64,3,1,1) - ReLU - MaxPool(2,2) - Flatten - Linear(802816,10)"
    assert compute("output_shape", input_shape=[3, 224, 224], layers=vgg) == [10]
    # a Linear right after a conv flattens first: 2x3x3 = 18
    assert compute("output_shapes", input_shape=[1, 5, 5], layers="Conv(1,2,3) - FC(18,4)") == [[2, 3, 3], [4]]
    assert compute("output_shapes", input_shape=[784], layers="FC(784,128) - ReLU - FC(128,10)",
                   only=["linear"]) == [[128], [10]]
    with pytest.raises(ReferenceError_, match="expects 1 input channels"):
        compute("output_shapes", input_shape=[3, 32, 32], layers="Conv(1,8,3)")
    with pytest.raises(ReferenceError_, match="expects 100 input features"):
        compute("output_shapes", input_shape=[3, 4, 4], layers="Conv(3,8,3) - Flatten - Linear(100,2)")


def test_param_counts():
    assert compute("param_count", layers="Conv(3,64,3,1,1)") == 1792            # 3*64*9 + 64
    assert compute("param_count", layers="Conv(64,128,3,1,1)") == 73856         # 64*128*9 + 128
    assert compute("param_count", layers="Linear(25088,4096)") == 102764544     # 25088*4096 + 4096
    assert compute("param_count", layers=[{"type": "Conv2d", "in": 3, "out": 8, "kernel": 5}]) == 608  # 75*8 + 8
    assert compute("param_count", layers="FC(784,128) - ReLU - FC(128,10)") == 101770  # 100480 + 1290
    assert compute("param_counts", layers="FC(784,128) - ReLU - FC(128,10)") == [100480, 0, 1290]
    # BatchNorm2d(64): gamma and beta (128); running mean and variance (128 more) only when asked
    assert compute("param_count", layers="BatchNorm2d(64)") == 128
    assert compute("param_count", layers="BatchNorm2d(64)", trainable_only=False) == 256
    assert compute("param_count", layers="Conv(3,8,5,bias=false)") == 600
    m = likely_mistakes("param_count", layers="Conv(3,64,3,1,1) - ReLU - Conv(64,128,3,1,1)")
    assert find(m, "bias term was not counted") == 1728 + 73728
    assert find(m, "without the input channels") == (9 * 64 + 64) + (9 * 128 + 128)
    pm = likely_mistakes("param_counts", layers="FC(784,128) - ReLU - FC(128,10)")
    assert find(pm, "bias term was not counted") == [100352, 0, 1280]
    bm = likely_mistakes("param_count", layers="Conv(3,64,3,1,1) - BatchNorm2d(64)")
    assert find(bm, "running mean and variance") == 1792 + 256
    assert find(bm, "BatchNorm layers were not counted") == 1792


def test_size_algebra():
    assert compute("same_padding", kernel_size=7) == 3
    assert compute("same_padding", kernel_size=3, dilation=2) == 2
    assert find(likely_mistakes("same_padding", kernel_size=7), "total padding") == 6
    with pytest.raises(ReferenceError_, match="no symmetric"):
        compute("same_padding", kernel_size=4)
    assert compute("kernel_size_for", in_size=512, out_size=508) == 5           # 512 - 508 + 1
    assert find(likely_mistakes("kernel_size_for", in_size=512, out_size=508), "+1") == 4
    assert compute("kernel_size_for", in_size=32, out_size=16, stride=2, padding=1) == 4   # 34 - 30 = 4
    assert compute("conv_output_size", in_size=224, kernel_size=7, stride=2, padding=3) == 112  # floor(223/2)+1
    assert compute("conv_output_size", in_size=32, kernel_size=3, padding=1) == 32
    cm = likely_mistakes("conv_output_size", in_size=224, kernel_size=7, stride=2, padding=3)
    assert find(cm, "padding was forgotten") == 109                              # floor(217/2)+1
    assert find(cm, "rounded up") == 113                                         # ceil(223/2)+1
    assert compute("pool_output_size", in_size=508, kernel_size=2, stride=2) == 254
    assert compute("pool_output_size", in_size=508, kernel_size=2) == 254
    assert compute("pool_output_size", in_size=5, kernel_size=2, ceil_mode=True) == 3   # ceil(3/2)+1
    pm = likely_mistakes("pool_output_size", in_size=5, kernel_size=2)
    assert find(pm, "floor vs ceil") == 3
    assert find(pm, "stride was taken as 1") == 4
    assert compute("padding_for", in_size=28, out_size=28, kernel_size=5) == 2
    with pytest.raises(ReferenceError_, match="no kernel"):
        compute("kernel_size_for", in_size=5, out_size=8)


# ------------------------------------------------------------------------ gradients

def test_conv1d_weight_grad():
    # dL/dw_k = sum_i g_i x_{i+k}: w0 = 1*1 + 2*2 - 1*3 = 2, w1 = 1*2 + 2*3 - 1*4 = 4
    assert compute("conv1d_weight_grad", input=[1, 2, 3, 4], weight=[0.3, -0.7], upstream=[1, 2, -1]) == [2, 4]
    m = likely_mistakes("conv1d_weight_grad", input=[1, 2, 3, 4], weight=[0.3, -0.7], upstream=[1, 2, -1])
    assert find(m, "reversed") == [4, 2]
    assert find(m, "upstream gradient was ignored") == [6, 9]                   # 1+2+3, 2+3+4
    # stride 2, padding 1: padded x = [0,1,2,3,4,0], outputs at 0 and 2; g = [2, 1]
    # w_k = 2*xp[k] + 1*xp[2+k] = [0+2, 2+3, 4+4]
    assert compute("conv1d_weight_grad", input=[1, 2, 3, 4], weight=[0, 0, 0], upstream=[2, 1], stride=2,
                   padding=1) == [2, 5, 8]
    with pytest.raises(ReferenceError_, match="upstream"):
        compute("conv1d_weight_grad", input=[1, 2, 3, 4], weight=[0, 0], upstream=[1, 2])


def test_conv2d_grads():
    x = [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    w = [[1, 2], [3, 4]]
    # upstream ones: each weight gets the sum of the 2x2 block it touches
    assert compute("conv2d_weight_grad", input=x, weight=w) == [[12, 16], [24, 28]]
    # upstream only at (0,0): the input gradient is the kernel placed at the top left
    assert compute("conv2d_input_grad", input=x, weight=w, upstream=[[1, 0], [0, 0]]) == [[1, 2, 0], [3, 4, 0],
                                                                                          [0, 0, 0]]
    # upstream ones: every pixel collects the kernel entries of the windows covering it
    assert compute("conv2d_input_grad", input=x, weight=w) == [[1, 3, 2], [4, 10, 6], [3, 7, 4]]
    m = likely_mistakes("conv2d_input_grad", input=x, weight=w)
    assert find(m, "not rotated by 180°") == [[4, 7, 3], [6, 10, 4], [2, 3, 1]]  # with [[4,3],[2,1]]
    wm = likely_mistakes("conv2d_weight_grad", input=x, weight=w)
    assert find(wm, "rotated by 180°") == [[28, 24], [16, 12]]


def test_max_pool2d_grad():
    x = [[1, 2, 3], [4, 9, 5], [6, 7, 8]]
    g = [[1, 2], [3, 4]]
    # all four overlapping 2x2 windows have their maximum at the centre: 1+2+3+4
    assert compute("max_pool2d_grad", input=x, kernel_size=2, stride=1, upstream=g) == [[0, 0, 0], [0, 10, 0],
                                                                                        [0, 0, 0]]
    m = likely_mistakes("max_pool2d_grad", input=x, kernel_size=2, stride=1, upstream=g)
    # spread evenly: each window gives g/4 to its 4 pixels; e.g. (0,1) gets (1+2)/4, centre (1+2+3+4)/4
    assert find(m, "spread evenly") == [[0.25, 0.75, 0.5], [1.0, 2.5, 1.5], [0.75, 1.75, 1.0]]
    assert find(m, "instead of adding up") == [[0, 0, 0], [0, 4, 0], [0, 0, 0]]  # the last window wins
    # non-overlapping with the default upstream of ones
    assert compute("max_pool2d_grad", input=[[1, 2], [3, 0]], kernel_size=2) == [[0, 0], [1, 0]]


# ------------------------------------------------------------------ the interface

def test_registry_and_errors():
    needed = {"conv2d", "relu", "sigmoid", "tanh", "softmax", "linear", "max_pool2d", "avg_pool2d", "l1_loss",
              "mse_loss", "cross_entropy", "nll_loss", "output_shapes", "output_shape", "receptive_fields", "jumps",
              "param_count", "param_counts", "same_padding", "kernel_size_for", "conv_output_size",
              "pool_output_size", "conv1d_weight_grad", "max_pool2d_grad", "conv2d_weight_grad",
              "conv2d_input_grad"}
    assert needed <= set(COMPUTATIONS)
    for name, comp in COMPUTATIONS.items():
        assert isinstance(comp, Computation) and comp.name == name and comp.doc
    assert issubclass(ReferenceError_, ValueError)
    with pytest.raises(ReferenceError_, match="unknown computation 'nope'"):
        compute("nope")
    with pytest.raises(ReferenceError_, match="missing a required argument"):
        compute("conv2d", input=[[1]])
    with pytest.raises(ReferenceError_, match="stide"):
        compute("conv2d", input=[[1]], weight=[[1]], stide=2)
    with pytest.raises(ReferenceError_, match="rectangular"):
        compute("relu", input=[[1, 2], [3]])
    with pytest.raises(ReferenceError_, match="out of range"):
        compute("cross_entropy", logits=[1, 2], target=2)
    with pytest.raises(ReferenceError_, match="Kernel size"):
        compute("conv2d", input=[[1]], weight=[[1, 2], [3, 4]])
    with pytest.raises(ReferenceError_, match="single-channel"):
        compute("conv2d", input=[[[1]], [[2]]], weight=[[1]])


def _plain(v):
    if isinstance(v, list):
        return all(_plain(x) for x in v)
    return type(v) in (int, float) or isinstance(v, str)


@pytest.mark.parametrize("name, args", [
    ("conv2d", dict(input=TMU_X, weight=TMU_W, padding=1, bias=[0.1])),
    ("max_pool2d", dict(input=TMU_RELU, kernel_size=2)),
    ("l1_loss", dict(input=TMU_POOL, target=TMU_T)),
    ("cross_entropy", dict(logits=[[1, 2], [3, 4]], target=[0, 1])),
    ("softmax", dict(input=[[1, 2], [3, 4]])),
    ("output_shapes", dict(input_shape=[3, 32, 32], layers=RF_A)),
    ("receptive_fields", dict(layers=RF_A)),
    ("param_count", dict(layers="Conv(3,64,3,1,1) - BatchNorm2d(64)")),
    ("conv2d_input_grad", dict(input=TMU_X, weight=TMU_W, padding=1)),
    ("max_pool2d_grad", dict(input=TMU_X, kernel_size=3, stride=1)),
])
def test_results_are_plain(name, args):
    result = compute(name, **args)
    m = likely_mistakes(name, **args)
    assert _plain(result) and m
    for text, value in m.items():
        assert isinstance(text, str) and _plain(value), text
        assert value != result
    json.dumps([result, m])   # serialisable as is
