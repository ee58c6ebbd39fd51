"""RGB (plus depth and segmentation) through pyrender, headless: EGL first, OSMesa as the fallback.

The renderer draws `Scene`'s own world-space triangles, normals and uvs, so its pixels line up with
the ray-cast ground truth. It keeps one OpenGL context per process; use one `Renderer` per worker.
"""

from __future__ import annotations

import atexit
import ctypes.util
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass

import numpy as np

from frobnoscope.scenes.colors import render_to_linear
from frobnoscope.scenes.errors import RendererUnavailable
from frobnoscope.scenes.scene import Scene
from frobnoscope.scenes.spec import Camera, DirectionalLight, PointLight, SpotLight
from frobnoscope.scenes.textures import texture_image

_offscreen = None  # the process's one pyrender.OffscreenRenderer (see `Renderer.close`)
_shader_dir = None  # pyrender's shaders with hard shadows (see `_hard_shadow_shaders`)
# Shadow maps of 1024^2 texels instead of pyrender's 2048^2: a texel is under a pixel's footprint at 256x256 on
# a tabletop (the map spans the scene's bounding sphere), and drawing the map costs a third of a 2048 one.
SHADOW_MAP_SIZE = 1024
PLATFORM_LIBRARIES = {"egl": ("EGL", "libegl1 libegl-mesa0 libgl1-mesa-dri"), "osmesa": ("OSMesa", "libosmesa6")}


def choose_platform() -> str:
    """Pick PyOpenGL's headless platform (respecting PYOPENGL_PLATFORM) before OpenGL is imported."""
    chosen = os.environ.get("PYOPENGL_PLATFORM")
    if chosen:
        return chosen
    for platform, (library, _) in PLATFORM_LIBRARIES.items():
        if ctypes.util.find_library(library):
            os.environ["PYOPENGL_PLATFORM"] = platform
            return platform
    packages = " or ".join(pkgs for _, pkgs in PLATFORM_LIBRARIES.values())
    raise RendererUnavailable(f"no headless OpenGL: neither libEGL nor libOSMesa was found; install the Debian packages {packages}")


@dataclass
class Render:
    rgb: np.ndarray  # (H, W, 3) float32 linear, decoded from pyrender's 8-bit gamma-2.2 output
    depth_z: np.ndarray | None = None  # (H, W) float32 from the depth buffer, inf at background
    object_id: np.ndarray | None = None  # (H, W) uint16 from the segmentation pass, 0 at background


def _pose_looking_along(direction, position=(0.0, 0.0, 0.0)) -> np.ndarray:
    """A pose whose -Z axis points along `direction` (pyrender lights shine down their -Z)."""
    forward = np.asarray(direction, dtype=float)
    forward /= np.linalg.norm(forward)
    helper = np.array([0.0, 1.0, 0.0]) if abs(forward[1]) < 0.9 else np.array([1.0, 0.0, 0.0])
    x = np.cross(helper, -forward)
    x /= np.linalg.norm(x)
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = x, np.cross(-forward, x), -forward, position
    return pose


def _single_sample_framebuffers(pyrender_renderer_module) -> None:
    """Make pyrender allocate its "multisample" buffers with one sample (it hard-codes 4).

    With 4 samples pyrender's depth comes from one off-centre sample and colours are box-filtered;
    with one, every pixel is the surface seen exactly through the pixel centre, as ground truth is.
    """
    allocate = pyrender_renderer_module.glRenderbufferStorageMultisample
    if getattr(allocate, "single_sample", False):
        return

    def single_sample(target, _samples, internal_format, width, height):
        return allocate(target, 0, internal_format, width, height)

    single_sample.single_sample = True
    pyrender_renderer_module.glRenderbufferStorageMultisample = single_sample


def _hard_shadow_shaders(pyrender) -> str | None:
    """A copy of pyrender's shader directory whose shadow test is one shadow-map compare at the fragment.

    pyrender filters every shadow lookup over 3x3 bilinear taps (36 texture reads a fragment, two thirds of
    llvmpipe's forward pass); the ground truth's `shadow` is a hard visibility test at the pixel centre, so
    one compare is both faster and closer to it. None (pyrender's own shaders, with a warning) if this
    pyrender's shader no longer has the function being replaced."""
    global _shader_dir
    if _shader_dir is None:
        source = os.path.join(os.path.dirname(pyrender.__file__), "shaders")
        fragment = open(os.path.join(source, "mesh.frag")).read()
        start, end = fragment.find("float PCF("), fragment.find("return result/9.0;\n}\n")
        if start < 0 or end < 0:
            warnings.warn("pyrender's mesh.frag has no PCF function to replace; shadows keep pyrender's filtering")
            return None
        _shader_dir = tempfile.mkdtemp(prefix="frob-shaders-")
        atexit.register(shutil.rmtree, _shader_dir, ignore_errors=True)
        shutil.copytree(source, _shader_dir, dirs_exist_ok=True)
        hard = "float PCF(sampler2D depths, vec2 size, vec2 uv, float compare){\n    return texture2DCompare(depths, uv, compare);\n}\n"
        with open(os.path.join(_shader_dir, "mesh.frag"), "w") as f:
            f.write(fragment[:start] + hard + fragment[end + len("return result/9.0;\n}\n"):])
    return _shader_dir


def _fast_pyrender_globals(pyrender) -> None:
    """Process-wide settings of pyrender (like `_single_sample_framebuffers`): the shadow-map size, and uniform
    locations looked up once per program and name (pyrender asks OpenGL again for every uniform it sets,
    about a hundred times a frame; programs live as long as the context)."""
    pyrender.light.SHADOW_TEX_SZ = pyrender.renderer.SHADOW_TEX_SZ = SHADOW_MAP_SIZE
    lookup = pyrender.shader_program.glGetUniformLocation
    if getattr(lookup, "cached", False):
        return
    locations: dict = {}

    def cached_lookup(program, name):
        key = (program, name)
        if key not in locations:
            locations[key] = lookup(program, name)
        return locations[key]

    cached_lookup.cached = True
    pyrender.shader_program.glGetUniformLocation = cached_lookup


def _flat_scene_class(pyrender):
    """A `pyrender.Scene` told its bounds, whose nodes all hang from the root. pyrender asks for the
    bounds (through `scale`) and walks the node graph for a pose several times per primitive per
    frame; ours are known: the exact min and max of the corners it draws, and each node's own matrix."""

    class FlatScene(pyrender.Scene):
        def __init__(self, bounds: np.ndarray, **kwargs):
            super().__init__(**kwargs)
            # pyrender would take them from the float32 vertex buffers: round the same way
            self._known_bounds = np.asarray(bounds, dtype=np.float32).astype(float)

        @property
        def bounds(self) -> np.ndarray:
            return self._known_bounds

        def get_pose(self, node) -> np.ndarray:
            return node.matrix

    return FlatScene


class Renderer:
    """`with Renderer() as r: r.render(scene, camera)`. Renderers in one process share one context.

    By default each pixel is shaded once, at its centre, exactly where the ground truth is cast;
    `antialias=True` restores pyrender's 4x MSAA for prettier edges (one choice per process).
    """

    def __init__(self, antialias: bool = False):
        choose_platform()
        try:
            import pyrender
        except Exception as error:  # PyOpenGL raises assorted errors when the platform library is broken
            raise RendererUnavailable(f"cannot load pyrender with PYOPENGL_PLATFORM={os.environ['PYOPENGL_PLATFORM']}: {error}") from None
        self._pyrender = pyrender
        self._scene_class = _flat_scene_class(pyrender)
        if not antialias:
            _single_sample_framebuffers(pyrender.renderer)
        _fast_pyrender_globals(pyrender)
        self._light_pool: dict[tuple[str, int], object] = {}

    def __enter__(self) -> Renderer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Forget this renderer's lights. The OpenGL context is per process and lives until exit:
        EGL has one display per process, and terminating it would break every other renderer."""
        self._light_pool.clear()

    def _context(self, width: int, height: int):
        global _offscreen
        if _offscreen is None:
            try:
                _offscreen = self._pyrender.OffscreenRenderer(width, height)
            except Exception as error:
                platform = os.environ["PYOPENGL_PLATFORM"]
                library, packages = PLATFORM_LIBRARIES.get(platform, (platform, "Mesa"))
                raise RendererUnavailable(
                    f"cannot create a headless OpenGL context with {library}: {error}; install the Debian packages "
                    f"{packages}, or set PYOPENGL_PLATFORM=osmesa"
                ) from None
            atexit.register(_offscreen.delete)
            shader_dir = _hard_shadow_shaders(self._pyrender)
            if shader_dir is not None:
                _offscreen._renderer._program_cache = self._pyrender.shader_program.ShaderProgramCache(shader_dir)
        else:
            _offscreen.viewport_width, _offscreen.viewport_height = width, height
        return _offscreen

    def _material(self, material):
        pr = self._pyrender
        if material.texture is None:
            return pr.MetallicRoughnessMaterial(
                baseColorFactor=(*material.base_color, 1.0), metallicFactor=material.metallic,
                roughnessFactor=material.roughness,
            )
        sampler = pr.Sampler(magFilter=pr.constants.GLTF.NEAREST, minFilter=pr.constants.GLTF.NEAREST)
        texture = pr.Texture(source=texture_image(material.texture), source_channels="RGBA", sampler=sampler)
        return pr.MetallicRoughnessMaterial(
            baseColorFactor=(1.0, 1.0, 1.0, 1.0), baseColorTexture=texture,
            metallicFactor=material.metallic, roughnessFactor=material.roughness,
        )

    def _light(self, light, slot: int):
        """A pyrender light for `light`, reused across frames so its shadow map is allocated once."""
        pr = self._pyrender
        kinds = {"directional": pr.DirectionalLight, "point": pr.PointLight, "spot": pr.SpotLight}
        node_light = self._light_pool.setdefault((light.kind, slot), kinds[light.kind]())
        node_light.color, node_light.intensity = np.asarray(light.color), light.intensity
        if isinstance(light, DirectionalLight):
            return node_light, _pose_looking_along(light.direction)
        if isinstance(light, PointLight):
            pose = np.eye(4)
            pose[:3, 3] = light.position
            return node_light, pose
        assert isinstance(light, SpotLight)
        node_light.outerConeAngle = np.radians(light.outer_cone_deg)
        node_light.innerConeAngle = np.radians(light.inner_cone_deg)
        return node_light, _pose_looking_along(light.direction, light.position)

    def _pyrender_scene(self, scene: Scene, camera: Camera, neutral: bool):
        pr = self._pyrender
        spec = scene.spec
        ambient = (1.0, 1.0, 1.0) if neutral else spec.ambient
        out = self._scene_class(scene.bounds, bg_color=(*spec.background, 0.0), ambient_light=ambient)
        object_nodes = []
        for index, obj in enumerate(spec.objects):
            faces = scene.object_faces(index)
            corners = slice(3 * faces.start, 3 * faces.stop)
            primitive = pr.Primitive(
                positions=scene.corners[corners].astype(np.float32),
                normals=scene.corner_normals[corners].astype(np.float32),
                texcoord_0=scene.corner_uv[corners].astype(np.float32),
                material=self._material(obj.material),
            )
            object_nodes.append(out.add(pr.Mesh([primitive]), name=obj.name))
        if not neutral:
            for slot, light in enumerate(spec.lights):
                node_light, pose = self._light(light, slot)
                out.add(node_light, pose=pose)
        intrinsics = pr.IntrinsicsCamera(camera.fx, camera.fy, camera.cx, camera.cy, znear=camera.znear, zfar=camera.zfar)
        out.add(intrinsics, pose=camera.pose())
        return out, object_nodes

    def render(
        self, scene: Scene, camera: Camera, *, shadows: bool = True, depth: bool = False,
        segmentation: bool = False, neutral: bool = False,
    ) -> Render:
        """Render linear RGB; optionally pyrender's depth (`depth_z`) and segmentation (`object_id`).

        `neutral=True` lights the scene with white ambient light only, so RGB equals the albedo
        (up to the 8-bit output). Shadows: pyrender's shadow maps for directional and spot lights.
        """
        pr = self._pyrender
        renderer = self._context(camera.width, camera.height)
        pr_scene, object_nodes = self._pyrender_scene(scene, camera, neutral)
        flags = pr.RenderFlags.NONE
        if shadows:
            flags |= pr.RenderFlags.SHADOWS_DIRECTIONAL | pr.RenderFlags.SHADOWS_SPOT
        color, depth_buffer = renderer.render(pr_scene, flags=flags)
        result = Render(rgb=render_to_linear(color))
        if depth:
            result.depth_z = np.where(depth_buffer > 0, depth_buffer, np.inf).astype(np.float32)
        if segmentation:
            colors = {node: ((i + 1) & 255, (i + 1) >> 8, 0) for i, node in enumerate(object_nodes)}
            seg, _ = renderer.render(pr_scene, flags=pr.RenderFlags.SEG, seg_node_map=colors)
            result.object_id = (seg[..., 0].astype(np.uint16) | (seg[..., 1].astype(np.uint16) << 8))
        return result
