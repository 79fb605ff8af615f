"""Feature bundles for spurscope from real CLIP checkpoints (Hugging Face
transformers): image and text features before the projections, the projections
and temperature, and OWL-ViT detections over an object vocabulary."""
