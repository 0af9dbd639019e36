"""Training-time augmentation of image batches (N, C, H, W), on the batch's device."""

import torch


def random_flip(images):
    """Mirror a random half of the images left to right."""
    flip = torch.rand(len(images), device=images.device) < 0.5
    return torch.where(flip[:, None, None, None], images.flip(-1), images)


def random_shift(images, fraction):
    """Translate each image by its own whole number of pixels, up to ``fraction`` of its
    height and width in each direction, repeating the edge pixels into the uncovered border.

    The usual "pad and random-crop" augmentation, with the edge as padding: faces cropped
    by a detector land a few pixels off centre, and the network should not care. Any dtype
    (uint8 batches stay uint8: nothing is interpolated).
    """
    n, _, height, width = images.shape
    max_dy, max_dx = round(fraction * height), round(fraction * width)
    if max_dy == 0 and max_dx == 0:
        return images
    device = images.device
    dy = torch.randint(-max_dy, max_dy + 1, (n, 1), device=device)
    dx = torch.randint(-max_dx, max_dx + 1, (n, 1), device=device)
    rows = (torch.arange(height, device=device) - dy).clamp_(0, height - 1)  # (n, H)
    cols = (torch.arange(width, device=device) - dx).clamp_(0, width - 1)  # (n, W)
    batch = torch.arange(n, device=device)[:, None, None]
    # advanced indices on both sides of the channel slice put their axes first: (n, H, W, C)
    return images[batch, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2).contiguous()
