"""A safetensors file of every integer and float width numpy can write,
made by the Python `safetensors` package, for the Swift reader's tests.
Re-run with: python3 make_dtype_fixture.py"""
import numpy as np
from safetensors.numpy import save_file

save_file({
    "f32": np.array([[1.5, -2.0, 3.25]], dtype=np.float32),
    "f16": np.array([0.5, -1.0, 65504.0, 2.0 ** -14], dtype=np.float16),
    "f64": np.array([1.0 / 3.0, -7.0], dtype=np.float64),
    "i32": np.array([-3, 0, 2147483647], dtype=np.int32),
    "i64": np.array([[-1, 5], [1 << 40, 7]], dtype=np.int64),
    "u8": np.array([0, 255], dtype=np.uint8),
    "scalar": np.array(4.5, dtype=np.float32),
    "empty": np.zeros((0, 3), dtype=np.float32),
}, "dtypes.safetensors", metadata={"format": "pt", "made_by": "make_dtype_fixture.py"})
