"""The report's figures: explain (curves, confusion matrix, saliency, filters, feature maps,
the model summary) and maximise (what the network thinks an expression looks like)."""
