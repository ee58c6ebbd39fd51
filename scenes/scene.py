"""`Scene`: a `SceneSpec` built into world-space triangles, with ray casting and 3D ground-truth queries.

The same triangles feed the renderer (`scenes.render`) and the ray caster (embree through embreex),
so images and ground truth describe one surface. Object ids are 1 + the object's index in
`spec.objects` (0 is background); material ids are 1 + the index of the object's material among the
scene's distinct materials, in order of first use; shape ids are 1 + the index in `SHAPE_KINDS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from embreex import mesh_construction, rtcore_scene

from frobnoscope.scenes.geometry import surface_mesh
from frobnoscope.scenes.sdf import local_sdf
from frobnoscope.scenes.shading import brdf_terms, sample_light
from frobnoscope.scenes.spec import SHAPE_KINDS, SceneSpec
from frobnoscope.scenes.textures import texture_albedo

NO_HIT = -1


@dataclass
class Hits:
    """First hits of a batch of rays: global face index (-1 for a miss), barycentrics, distance t."""

    face: np.ndarray
    bary_u: np.ndarray
    bary_v: np.ndarray
    t: np.ndarray

    @property
    def hit(self) -> np.ndarray:
        return self.face != NO_HIT


@dataclass
class Surface:
    """Ground-truth attributes of surface points given as (face, barycentrics)."""

    position: np.ndarray  # (n, 3) world
    normal: np.ndarray  # (n, 3) unit shading normal (interpolated, as the renderer shades)
    geometric_normal: np.ndarray  # (n, 3) unit face normal
    uv: np.ndarray  # (n, 2) texture coordinates including the texture's repeats
    object_index: np.ndarray  # (n,) index into spec.objects
    albedo: np.ndarray  # (n, 3) linear base colour including texture


class Scene:
    def __init__(self, spec: SceneSpec):
        self.spec = spec
        meshes = [surface_mesh(obj.shape) for obj in spec.objects]
        faces_per_object = [mesh.n_faces for mesh in meshes]
        self.face_ranges = np.cumsum([0, *faces_per_object])
        self.face_object = np.repeat(np.arange(len(meshes), dtype=np.int32), faces_per_object)  # (F,) owner of each face
        # (3F, 8): world position (3), unit shading normal (3) and uv (2) of every face corner
        self.corner_attributes = np.empty((3 * self.n_faces, 8))
        self.face_normals = np.empty((self.n_faces, 3))  # unit geometric normal of each face
        object_bounds, vertices, triangles_by_vertex, vertex_count = [], [], [], 0
        for index, (obj, local) in enumerate(zip(spec.objects, meshes)):
            faces = self.object_faces(index)
            rows = self.corner_attributes[3 * faces.start:3 * faces.stop]
            matrix = obj.transform.matrix()
            corners = local.corners @ matrix[:3, :3].T + matrix[:3, 3]
            rows[:, 0:3] = corners
            rows[:, 3:6] = local.normals @ obj.transform.rotation().T
            rows[:, 6:8] = local.uv * (obj.material.texture.repeats if obj.material.texture else (1.0, 1.0))
            triangles = corners.reshape(-1, 3, 3)
            normals = np.cross(triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0])
            self.face_normals[faces] = normals / np.maximum(np.sqrt(np.einsum("ij,ij->i", normals, normals)), 1e-30)[:, None]
            object_bounds.append((corners.min(axis=0), corners.max(axis=0)))
            vertices.append(corners[local.vertex_corner])
            triangles_by_vertex.append(local.corner_vertex.reshape(-1, 3) + vertex_count)
            vertex_count += len(local.vertex_corner)
        self._ray_cast_mesh = (np.concatenate(vertices).astype(np.float32), np.concatenate(triangles_by_vertex))
        self.corners = self.corner_attributes[:, 0:3]
        self.corner_normals = self.corner_attributes[:, 3:6]
        self.corner_uv = self.corner_attributes[:, 6:8]
        self.shape_ids = np.array([SHAPE_KINDS.index(o.shape.kind) + 1 for o in spec.objects], dtype=np.uint8)
        distinct = list(dict.fromkeys(o.material for o in spec.objects))
        self.material_ids = np.array([distinct.index(o.material) + 1 for o in spec.objects], dtype=np.uint16)
        self.bounds = np.array([np.min([low for low, _ in object_bounds], axis=0), np.max([high for _, high in object_bounds], axis=0)])
        self.extent = float(np.linalg.norm(self.bounds[1] - self.bounds[0]))

    @property
    def n_faces(self) -> int:
        return int(self.face_ranges[-1])

    def object_faces(self, index: int) -> slice:
        return slice(self.face_ranges[index], self.face_ranges[index + 1])

    @cached_property
    def _embree(self) -> rtcore_scene.EmbreeScene:
        scene = rtcore_scene.EmbreeScene()
        mesh_construction.TriangleMesh(scene, *self._ray_cast_mesh)  # shared vertices: half the build time
        return scene

    def intersect(self, origins: np.ndarray, directions: np.ndarray, max_distance=None) -> Hits:
        """First hit along each ray (directions need not be unit; t is in units of |direction|)."""
        origins = np.ascontiguousarray(origins, dtype=np.float32)
        directions = np.ascontiguousarray(directions, dtype=np.float32)
        dists = None if max_distance is None else np.ascontiguousarray(max_distance, dtype=np.float32)
        result = self._embree.run(origins, directions, dists=dists, output=1)
        return Hits(result["primID"], result["u"], result["v"], result["tfar"])

    def occluded(self, origins: np.ndarray, directions: np.ndarray, max_distance=None) -> np.ndarray:
        """True where the ray hits anything before `max_distance` (inf: anywhere)."""
        origins = np.ascontiguousarray(origins, dtype=np.float32)
        directions = np.ascontiguousarray(directions, dtype=np.float32)
        dists = None
        if max_distance is not None:
            dists = np.ascontiguousarray(np.minimum(max_distance, 3.0e38), dtype=np.float32)
        return self._embree.run(origins, directions, dists=dists, query="OCCLUDED") != NO_HIT

    def surface(self, face: np.ndarray, bary_u: np.ndarray, bary_v: np.ndarray) -> Surface:
        """Attributes at points on faces, given embree barycentrics (point = w c0 + u c1 + v c2)."""
        weights = np.stack([1 - bary_u - bary_v, bary_u, bary_v], axis=1).astype(np.float64)
        per_corner = self.corner_attributes.reshape(-1, 3, 8)[face]
        values = np.einsum("ncd,nc->nd", per_corner, weights)  # one gather for every attribute
        normal = values[:, 3:6]
        normal /= np.maximum(np.sqrt(np.einsum("ij,ij->i", normal, normal)), 1e-30)[:, None]
        objects = self.face_object[face]
        uv = values[:, 6:8]
        return Surface(
            position=values[:, 0:3], normal=normal, geometric_normal=self.face_normals[face],
            uv=uv, object_index=objects, albedo=self.albedo(objects, uv),
        )

    def albedo(self, object_index: np.ndarray, uv: np.ndarray) -> np.ndarray:
        out = np.empty((len(object_index), 3))
        for index, obj in enumerate(self.spec.objects):
            mine = object_index == index
            if not mine.any():
                continue
            texture = obj.material.texture
            out[mine] = texture_albedo(texture, uv[mine]) if texture else obj.material.base_color
        return out

    def material_arrays(self, object_index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        metallic = np.array([o.material.metallic for o in self.spec.objects])[object_index]
        roughness = np.array([o.material.roughness for o in self.spec.objects])[object_index]
        return metallic, roughness

    def shadow_ray_origins(self, surface: Surface, to_light: np.ndarray) -> np.ndarray:
        """Surface points nudged off their face, to the light's side, so a shadow ray cannot hit its own face."""
        side = np.sign(np.einsum("ij,ij->i", surface.geometric_normal, to_light))[:, None]
        return surface.position + side * surface.geometric_normal * (1e-5 * self.extent)

    def light_visibility(self, surface: Surface, light) -> tuple[np.ndarray, object]:
        """1.0 where the light reaches the point unoccluded, else 0.0; plus the light sample."""
        sample = sample_light(light, surface.position)
        origins = self.shadow_ray_origins(surface, sample.to_light)
        blocked = self.occluded(origins, sample.to_light, sample.distance)
        return (~blocked).astype(np.float64), sample

    def shade(self, surface: Surface, to_camera: np.ndarray, lighting=None) -> tuple[np.ndarray, np.ndarray]:
        """Linear outgoing radiance (ambient + every light, exact visibility) and its specular part.

        `lighting`: the `light_visibility` of every light, if the caller already has it.
        """
        metallic, roughness = self.material_arrays(surface.object_index)
        color = surface.albedo * np.asarray(self.spec.ambient)
        specular = np.zeros_like(color)
        if lighting is None:
            lighting = [self.light_visibility(surface, light) for light in self.spec.lights]
        for visible, sample in lighting:
            diffuse, spec = brdf_terms(
                surface.normal, to_camera, sample.to_light, sample.radiance, surface.albedo, metallic, roughness
            )
            color += visible[:, None] * (diffuse + spec)
            specular += visible[:, None] * spec
        return color, specular

    # --- 3D queries: the optimal outputs of a coordinate MLP ------------------------------------

    def signed_distances(self, points: np.ndarray) -> np.ndarray:
        """(n, n_objects) signed distance of each point to each object (negative inside)."""
        points = np.asarray(points, dtype=float)
        out = np.empty((len(points), len(self.spec.objects)))
        for index, obj in enumerate(self.spec.objects):
            matrix = obj.transform.matrix()
            scale = obj.transform.scale
            local = (points - matrix[:3, 3]) @ obj.transform.rotation() / scale
            out[:, index] = local_sdf(obj.shape, local) * scale
        return out

    def query(self, points: np.ndarray) -> dict[str, np.ndarray]:
        """Ground truth at arbitrary 3D points (n, 3), world frame.

        Returns `sdf` (n,) of the union of all objects, negative inside (analytic for primitives);
        `occupancy` (n,) bool, sdf < 0; `object_id` (n,) the nearest object (1-based, never 0);
        `albedo` (n, 3) linear, the base colour of the nearest object's mesh surface at the point
        closest to the query point.
        """
        distances = self.signed_distances(points)
        nearest = distances.argmin(axis=1)
        sdf = distances[np.arange(len(points)), nearest]
        return {
            "sdf": sdf,
            "occupancy": sdf < 0,
            "object_id": (nearest + 1).astype(np.uint16),
            "albedo": self.surface(*self._closest_faces(points, nearest)).albedo,
        }

    def _closest_faces(self, points: np.ndarray, object_index: np.ndarray):
        """Closest point on each point's object mesh, as (face, barycentric u, v)."""
        import trimesh  # only queries need trimesh's proximity (and rtree)

        face = np.empty(len(points), dtype=np.int64)
        bary = np.empty((len(points), 3))
        for index in np.unique(object_index):
            mine = object_index == index
            faces = self.object_faces(index)
            triangles = self.corners.reshape(-1, 3, 3)[faces]
            mesh = trimesh.Trimesh(triangles.reshape(-1, 3), np.arange(len(triangles) * 3).reshape(-1, 3), process=False)
            closest, _, local_face = trimesh.proximity.closest_point(mesh, points[mine])
            face[mine] = local_face + faces.start
            bary[mine] = trimesh.triangles.points_to_barycentric(triangles[local_face], closest)
        return face, bary[:, 1], bary[:, 2]

    def radiance(self, points: np.ndarray, view_dirs: np.ndarray, tolerance: float = 1e-3) -> np.ndarray:
        """Linear RGB radiance leaving surface points along `-view_dirs` (the direction a camera ray
        travels, as in NeRF), under the renderer's material model with exact shadows.

        Defined on the mesh surface: points farther than `tolerance` from it give NaN.
        """
        points = np.asarray(points, dtype=float)
        view_dirs = np.asarray(view_dirs, dtype=float)
        nearest = self.signed_distances(points).argmin(axis=1)
        face, bary_u, bary_v = self._closest_faces(points, nearest)
        surface = self.surface(face, bary_u, bary_v)
        color, _ = self.shade(surface, -view_dirs / np.linalg.norm(view_dirs, axis=1, keepdims=True))
        far = np.linalg.norm(surface.position - points, axis=1) > tolerance
        color[far] = np.nan
        return color
