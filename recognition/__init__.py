"""Maps to embeddings: face embedders per modality and their training."""
