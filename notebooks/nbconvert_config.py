"""nbconvert settings for storing the notebooks' outputs (see README.md here).

Run from the project root, in the test environment:

    env -u STEWRD_BASE_URL -u STEWRD_API_KEY \
        python -m nbconvert --config notebooks/nbconvert_config.py notebooks/*.ipynb

Every setting below exists so that the stored file holds only what the
notebook shows, and so that a second run with unchanged code writes the same
bytes (the one exception is named in README.md).
"""

c = get_config()  # noqa: F821 (nbconvert defines get_config when it loads this file)

# Execute each notebook in a fresh kernel and write it back in place.
c.NbConvertApp.export_format = "notebook"
c.NbConvertApp.use_output_suffix = False
c.FilesWriter.build_directory = ""
c.ExecutePreprocessor.enabled = True

# Wall-clock start and end times of each cell would change on every run.
c.ExecutePreprocessor.record_timing = False

# The saved widget state holds every widget's value, the explorer's password
# field (a full emulator key) included; the widget views in the outputs are
# enough for a page viewed without a kernel to show the explorer's summary.
c.ExecutePreprocessor.store_widget_state = False

# The kernel writes its Python version (3.11.7, say) into the notebook's
# metadata; keep only the kernel's name and the language's name, which do not
# change from one machine to the next.
c.ClearMetadataPreprocessor.enabled = True
c.ClearMetadataPreprocessor.clear_cell_metadata = False
c.ClearMetadataPreprocessor.preserve_nb_metadata_mask = {
    "kernelspec",
    ("language_info", "name"),
}
