"""Portal colours: contrast checks (WCAG 2.1) and the theme stylesheet."""

from __future__ import annotations

MINIMUM_CONTRAST = 4.5


def _channel(value: int) -> float:
    c = value / 255
    return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4


def relative_luminance(colour: str) -> float:
    if len(colour) != 7 or not colour.startswith("#"):
        raise ValueError(colour)
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * _channel(r) + 0.7152 * _channel(g) + 0.0722 * _channel(b)


def contrast_ratio(foreground: str, background: str) -> float:
    light, dark = sorted((relative_luminance(foreground), relative_luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def theme_css(*, brand: str, brand_text: str, background: str, text: str) -> str:
    """CSS custom properties only: the values are validated #rrggbb, so nothing else can get in."""
    return (
        ":root {\n"
        f"  --brand: {brand};\n"
        f"  --brand-contrast: {brand_text};\n"
        f"  --background: {background};\n"
        f"  --text: {text};\n"
        "}\n"
    )
