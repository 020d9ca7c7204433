"""Faces drawn on their picture: a photo's annotated copy, a video's annotated frames."""

from __future__ import annotations

import numpy as np


def annotate(rgb: np.ndarray, faces: list):
    """A copy of the picture with each face's box, number (its track in a video) and
    expression drawn (PIL image)."""
    from PIL import Image, ImageDraw, ImageFont

    im = Image.fromarray(rgb).convert("RGB")
    draw = ImageDraw.Draw(im)
    size = max(12, min(im.size) // 30)
    try:
        font = ImageFont.load_default(size)
    except TypeError:  # Pillow without FreeType sizes
        font = ImageFont.load_default()
    for i, face in enumerate(faces):
        x, y, w, h = face.box
        width = max(2, min(im.size) // 200)
        draw.rectangle((x, y, x + w, y + h), outline=(255, 210, 0), width=width)
        text = f"{i if face.track is None else f'#{face.track}'} {face.emotion} {face.probs.max():.2f}"
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        ty = y - (bottom - top) - 2 * width if y - (bottom - top) - 2 * width >= 0 else y + h + width
        draw.rectangle((x, ty, x + right - left + 2 * width, ty + bottom - top + 2 * width), fill=(255, 210, 0))
        draw.text((x + width - left, ty + width - top), text, fill=(0, 0, 0), font=font)
    return im
