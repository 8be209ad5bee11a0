// Deblur
