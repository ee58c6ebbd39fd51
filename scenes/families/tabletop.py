"""`tabletop`: 1 to 6 primitives on a ground plane, one shadow-casting key light plus ambient,
a random camera on the upper hemisphere."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from frobnoscope.scenes.families.base import Family, FamilyConfig, Frame
from frobnoscope.scenes.families.common import hue_color, light_direction, orbit_camera, resting_primitive
from frobnoscope.scenes.spec import DirectionalLight, Material, ObjectSpec, Plane, SceneSpec, Texture, Transform

PRIMITIVES = ("sphere", "box", "cylinder", "cone", "torus", "capsule")


class TabletopConfig(FamilyConfig):
    min_objects: int = Field(1, ge=1, le=20)
    max_objects: int = Field(6, ge=1, le=20)
    table_radius: float = Field(1.8, gt=0, description="objects are placed inside this disc")
    texture_probability: float = Field(0.3, ge=0, le=1)


class Tabletop(Family):
    name = "tabletop"
    Config = TabletopConfig

    def sample_objects(self, rng: np.random.Generator) -> tuple[list[ObjectSpec], list[dict]]:
        config = self.config
        wanted = int(rng.integers(config.min_objects, max(config.min_objects, config.max_objects) + 1))
        objects, factors, placed = [], [], []
        for _ in range(wanted):
            kind = PRIMITIVES[rng.integers(len(PRIMITIVES))]
            size = float(rng.uniform(0.25, 0.55))
            shape, centre_height, footprint = resting_primitive(kind, size, rng)
            for _attempt in range(50):  # rejection-sample a spot that touches no other object
                r, theta = config.table_radius * np.sqrt(rng.uniform()), rng.uniform(0, 2 * np.pi)
                x, z = float(r * np.cos(theta)), float(r * np.sin(theta))
                if all(np.hypot(x - px, z - pz) > footprint + pr + 0.05 for px, pz, pr in placed):
                    break
            else:
                continue
            placed.append((x, z, footprint))
            hue, saturation, value = float(rng.uniform()), float(rng.uniform(0.4, 0.9)), float(rng.uniform(0.5, 0.95))
            metallic, roughness = float(rng.choice([0.0, 1.0], p=[0.7, 0.3])), float(rng.uniform(0.15, 0.9))
            texture = None
            if rng.uniform() < config.texture_probability:
                texture = Texture(
                    kind=str(rng.choice(["checker", "stripes"])), color_a=hue_color(hue, saturation, value),
                    color_b=hue_color(hue + 0.5, saturation, value), repeats=(8.0, 4.0),
                )
            yaw = float(rng.uniform(0, 360))
            name = f"{kind}_{len(objects)}"
            objects.append(ObjectSpec(
                name=name, shape=shape, transform=Transform(position=(x, centre_height, z), rotation_deg=(0, yaw, 0)),
                material=Material(base_color=hue_color(hue, saturation, value), metallic=metallic, roughness=roughness, texture=texture),
            ))
            factors.append({
                "name": name, "shape": kind, "size": size, "x": x, "z": z, "yaw_deg": yaw, "hue": hue,
                "saturation": saturation, "value": value, "metallic": metallic, "roughness": roughness,
                "texture": texture.kind if texture else "none",
            })
        return objects, factors

    def frame(self, k: int) -> Frame:
        rng = self.frame_rng(k)
        ground_value = float(rng.uniform(0.3, 0.8))
        ground = ObjectSpec(name="ground", shape=Plane(size=8.0), material=Material(base_color=(ground_value,) * 3, roughness=0.9))
        objects, object_factors = self.sample_objects(rng)
        light_az, light_el = float(rng.uniform(0, 360)), float(rng.uniform(30, 75))
        intensity, ambient = float(rng.uniform(2.5, 4.0)), float(rng.uniform(0.1, 0.3))
        cam_az, cam_el, cam_dist = float(rng.uniform(0, 360)), float(rng.uniform(20, 60)), float(rng.uniform(4.5, 6.5))
        spec = SceneSpec(
            objects=[ground, *objects],
            lights=[DirectionalLight(direction=light_direction(light_az, light_el), intensity=intensity)],
            ambient=(ambient,) * 3, background=(0.0, 0.0, 0.0),
            camera=orbit_camera(cam_az, cam_el, cam_dist, self.config.res, target=(0.0, 0.3, 0.0)),
        )
        factors = {
            "n_objects": len(objects), "ground_value": ground_value, "light_azimuth_deg": light_az,
            "light_elevation_deg": light_el, "light_intensity": intensity, "ambient": ambient,
            "camera_azimuth_deg": cam_az, "camera_elevation_deg": cam_el, "camera_distance": cam_dist,
            "objects": [{"object_id": i + 2, **f} for i, f in enumerate(object_factors)],
        }
        return Frame(spec=spec, factors=factors)
