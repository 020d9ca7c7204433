"""Faces in and out of the training pipeline: read (the course's CSVs, Kaggle's fer2013.csv,
class folders, images; validation, the split), faces (what every reader returns), pack
(faces as WebP mosaics small enough to travel), pipeline (tf.data input and the augmentation
layers), affine (random geometry as one batched gather, for accelerators)."""
