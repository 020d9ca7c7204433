"""FER2013 facial-expression recognition with Keras 3 (ML2017 homework 3)."""
