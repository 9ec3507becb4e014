"""pip install for k2m (k2m_core + k2m_ros + the `k2m` command). colcon uses CMakeLists.txt."""

from setuptools import find_packages, setup

setup(
    name="k2m",
    version="0.1.0",
    description="Key2Mesh: 2D keypoints to SMPL body meshes in one forward pass, with ROS 2 nodes",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["k2m_core", "k2m_core.*", "k2m_ros", "k2m_ros.*"]),
    package_data={"k2m_core": ["py.typed"]},
    install_requires=[
        "torch>=2.1",
        "numpy>=1.26",
        "scipy>=1.11",
        "smplx>=0.1.28",
        "matplotlib>=3.8",
        "pyyaml>=6.0",
        "safetensors>=0.4",
        "tqdm>=4.66",
        "numba>=0.60",
    ],
    extras_require={
        "generate": ["scikit-image>=0.22", "fast-simplification>=0.1.7"],
        "onnx": ["onnx>=1.17", "onnxruntime>=1.20", "onnxscript>=0.2"],
        "tensorrt": ["tensorrt>=10"],
    },
    entry_points={"console_scripts": ["k2m = k2m_core.cli.main:main"]},
)
